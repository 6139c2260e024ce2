"""REST routes of the chat app, under /api/."""

from django.urls import path

from chat import api

urlpatterns = [
    path("rooms/", api.RoomListView.as_view(), name="api-rooms"),
    path("rooms/<str:slug>/", api.RoomDetailView.as_view(), name="api-room"),
    path(
        "rooms/<str:slug>/messages/",
        api.RoomMessagesView.as_view(),
        name="api-room-messages",
    ),
    path(
        "rooms/<str:slug>/members/",
        api.RoomMembersView.as_view(),
        name="api-room-members",
    ),
    path(
        "rooms/<str:slug>/presence/",
        api.RoomPresenceView.as_view(),
        name="api-room-presence",
    ),
]
