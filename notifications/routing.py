"""Socket routes of the notify app."""

from django.urls import path, re_path

from notifications.consumers import NotifyConsumer

websocket_urlpatterns = [
    # A str converter, validated by the consumer: `abc`, `-1` or a 30-digit id reach it
    # and get 4403, never a routing error (Channels raises ValueError on no match).
    path("ws/notify/user/<str:user_id>/", NotifyConsumer.as_asgi()),
    # Any other path under ws/notify/ (no id, extra segments): 4403 too, no user_id.
    re_path(r"^ws/notify(?:/|$)", NotifyConsumer.as_asgi()),
]
