"""Socket routes of the chat app."""

from chat.consumers import ChatConsumer
from realtime.socket.routes import socket_path

websocket_urlpatterns = [
    # A str converter, checked by the consumer: any unknown slug gets 4404 after accept,
    # never a routing error.
    socket_path("ws/chat/<str:slug>/", ChatConsumer),
    socket_path(r"^ws/chat(?:/|$)", ChatConsumer, regex=True),
]
