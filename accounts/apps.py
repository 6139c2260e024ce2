from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Users, registration, JWT endpoints, login pages, closing a user's sockets."""

    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import signals  # noqa: F401  (connects the receivers)
