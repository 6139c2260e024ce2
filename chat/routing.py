"""Socket routes of the chat app."""

from chat.consumers import ChatConsumer
from realtime.socket.routes import socket_path

websocket_urlpatterns = [
    # A str converter, checked by the consumer: any unknown slug gets 4404 after accept,
    # never a routing error.
    socket_path(
        "ws/chat/<str:slug>/",
        ChatConsumer,
        summary="A room: history, live messages and presence.",
        params={"slug": "the room's slug (`GET /api/rooms/` lists them)"},
    ),
    socket_path(r"^ws/chat(?:/|$)", ChatConsumer, regex=True),
]
