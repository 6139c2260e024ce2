from django.apps import AppConfig


class WsConfig(AppConfig):
    """The socket plumbing: process leases, the connection registry, the outbox."""

    name = "realtime.ws"
    label = "ws"
    verbose_name = "Sockets"
    default_auto_field = "django.db.models.BigAutoField"
