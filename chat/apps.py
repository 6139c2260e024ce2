from django.apps import AppConfig


class ChatConfig(AppConfig):
    """Rooms, the whitelist, messages with a gapless seq, presence."""

    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chat.presence_batcher import on_connections_closed
        from realtime.registry.signals import connections_closed

        connections_closed.connect(on_connections_closed, dispatch_uid="chat.presence")
