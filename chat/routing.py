"""Socket routes of the chat app."""

from django.urls import path, re_path

from chat.consumers import ChatConsumer

websocket_urlpatterns = [
    # A str converter, checked by the consumer: any unknown slug gets 4404 after accept,
    # never a routing error.
    path("ws/chat/<str:slug>/", ChatConsumer.as_asgi()),
    re_path(r"^ws/chat(?:/|$)", ChatConsumer.as_asgi()),
]
