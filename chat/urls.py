"""REST routes of the chat app, under /api/."""

from django.urls import path

from chat.api import conversations, members, messages, presence, rooms, search

urlpatterns = [
    path("rooms/", rooms.RoomListView.as_view(), name="api-rooms"),
    path("rooms/<str:slug>/", rooms.RoomDetailView.as_view(), name="api-room"),
    path(
        "rooms/<str:slug>/messages/",
        messages.RoomMessagesView.as_view(),
        name="api-room-messages",
    ),
    path(
        "rooms/<str:slug>/messages/<int:message_id>/",
        messages.MessageDetailView.as_view(),
        name="api-room-message",
    ),
    path(
        "rooms/<str:slug>/messages/<int:message_id>/versions/",
        messages.MessageVersionsView.as_view(),
        name="api-room-message-versions",
    ),
    path(
        "rooms/<str:slug>/messages/<int:message_id>/reactions/",
        messages.MessageReactionsView.as_view(),
        name="api-room-message-reactions",
    ),
    path(
        "rooms/<str:slug>/changes/",
        messages.RoomChangesView.as_view(),
        name="api-room-changes",
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
    path(
        "rooms/<str:slug>/search/",
        search.RoomSearchView.as_view(),
        name="api-room-search",
    ),
    path("search/", search.SearchView.as_view(), name="api-search"),
    path("dms/", conversations.DirectRoomView.as_view(), name="api-dms"),
    path("me/rooms/", conversations.MyRoomsView.as_view(), name="api-me-rooms"),
    path(
        "rooms/<str:slug>/join/",
        conversations.RoomJoinView.as_view(),
        name="api-room-join",
    ),
    path(
        "rooms/<str:slug>/leave/",
        conversations.RoomLeaveView.as_view(),
        name="api-room-leave",
    ),
    path(
        "rooms/<str:slug>/read/",
        conversations.RoomReadView.as_view(),
        name="api-room-read",
    ),
]
