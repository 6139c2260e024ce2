"""Socket routes of the whole project: each app's own, plus the echo route."""

from chat.routing import websocket_urlpatterns as chat_routes
from notifications.routing import websocket_urlpatterns as notify_routes
from realtime.socket.echo import EchoConsumer
from realtime.socket.routes import socket_path

websocket_urlpatterns = [
    socket_path(
        "ws/echo/",
        EchoConsumer,
        summary="Sends back every text and binary frame unchanged; no credentials.",
    ),
    *chat_routes,
    *notify_routes,
]
