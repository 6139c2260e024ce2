from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Per-user notifications, their socket, read state."""

    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"
