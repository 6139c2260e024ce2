from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class AccountsConfig(AppConfig):
    """Users, registration, JWT endpoints, login pages, sign-in throttle, revocation."""

    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import signals  # noqa: F401  (connects the receivers)
        from accounts.throttling import parse_rate

        # A mistyped rate fails the start, not every sign-in or write with a 500.
        for name in ("LOGIN_THROTTLE", "API_WRITE_THROTTLE", "API_AUTH_THROTTLE"):
            try:
                parse_rate(getattr(settings, name, ""))
            except ValueError as exc:
                raise ImproperlyConfigured(f"{name}: {exc}") from None
