from django.apps import AppConfig


class ChatConfig(AppConfig):
    """Rooms, the whitelist, messages with a gapless seq, presence."""

    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"
