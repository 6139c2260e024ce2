"""Socket routes of the notify app."""

from notifications.consumers import NotifyConsumer
from realtime.socket.routes import socket_path

websocket_urlpatterns = [
    # A str converter, validated by the consumer: `abc`, `-1` or a 30-digit id reach it
    # and get 4403, never a routing error (Channels raises ValueError on no match).
    socket_path(
        "ws/notify/user/<str:user_id>/",
        NotifyConsumer,
        summary="The user's own notifications: backlog, live pushes, unread count.",
        params={
            "user_id": "the signed-in user's own id (the welcome of any socket, or "
            "the token's `user_id` claim); any other id, or any other path under "
            "/ws/notify/, is closed 4403"
        },
    ),
    # Any other path under ws/notify/ (no id, extra segments): 4403 too, no user_id.
    socket_path(r"^ws/notify(?:/|$)", NotifyConsumer, regex=True),
]
