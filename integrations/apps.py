from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """The server API (API keys) and webhooks for other backends (PROTOCOL.md section 11)."""

    name = "integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chat import signals
        from integrations import receivers

        signals.messages_stored.connect(
            receivers.on_messages_stored, dispatch_uid="integrations.messages"
        )
        signals.message_changed.connect(
            receivers.on_message_changed, dispatch_uid="integrations.changes"
        )
        signals.membership_changed.connect(
            receivers.on_membership_changed, dispatch_uid="integrations.members"
        )
        signals.rooms_occupancy_changed.connect(
            receivers.on_rooms_occupancy_changed, dispatch_uid="integrations.rooms"
        )
