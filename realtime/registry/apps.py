from django.apps import AppConfig


class RegistryConfig(AppConfig):
    """The registry of live sockets and serving processes (app label `ws`, as its tables)."""

    name = "realtime.registry"
    label = "ws"
    verbose_name = "Sockets"
    default_auto_field = "django.db.models.BigAutoField"
