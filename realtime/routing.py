"""Socket routes of the whole project: each app's own, plus the echo route."""

from django.urls import path

from chat.routing import websocket_urlpatterns as chat_routes
from notifications.routing import websocket_urlpatterns as notify_routes
from realtime.socket.echo import EchoConsumer

websocket_urlpatterns = [
    path("ws/echo/", EchoConsumer.as_asgi()),
    *chat_routes,
    *notify_routes,
]
