"""`manage.py serve`: the server `make run` and `make cluster` start, with a graceful drain."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Serve the app (UI, REST, sockets) on $HOST:$PORT; --workers N runs N processes "
        "behind one port (each its own hub and lease); SIGTERM drains gracefully."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument(
            "--port", type=int, default=int(os.environ.get("PORT", "8000"))
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=1,
            help="processes behind one port (needs REDIS_URL: they form a cluster)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from django.conf import settings
        from django.core.management.base import CommandError

        from realtime.server.serve import serve

        workers = options["workers"]
        if workers > 1 and not settings.REDIS_URL:
            raise CommandError(
                "--workers > 1 needs REDIS_URL (and DATABASE_URL): without a shared channel "
                "layer the processes could not reach each other's sockets."
            )
        serve(host=options["host"], port=options["port"], workers=workers)
