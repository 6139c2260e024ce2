"""The bench app: load, soak and capacity tools reachable as manage.py commands."""

from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Holds the `loadtest` and `soak` commands; no models."""

    name = "bench"
    verbose_name = "Benchmarks"
