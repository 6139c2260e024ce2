"""REST routes of the chat app, under /api/."""

from django.urls import path

from chat.api import members, messages, presence, rooms

urlpatterns = [
    path("rooms/", rooms.RoomListView.as_view(), name="api-rooms"),
    path("rooms/<str:slug>/", rooms.RoomDetailView.as_view(), name="api-room"),
    path(
        "rooms/<str:slug>/messages/",
        messages.RoomMessagesView.as_view(),
        name="api-room-messages",
    ),
    path(
        "rooms/<str:slug>/members/",
        members.RoomMembersView.as_view(),
        name="api-room-members",
    ),
    path(
        "rooms/<str:slug>/presence/",
        presence.RoomPresenceView.as_view(),
        name="api-room-presence",
    ),
]
