"""`manage.py serve`: the server `make run` starts, on $HOST:$PORT, with a graceful drain."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve the app (UI, REST, sockets) on $HOST:$PORT; SIGTERM drains gracefully."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--workers", type=int, default=1, help="processes behind one port")

    def handle(self, *args: Any, **options: Any) -> None:
        import uvicorn

        from realtime.ws.lifespan import drain

        class DrainingServer(uvicorn.Server):
            """uvicorn, but the first SIGTERM/SIGINT drains sockets before shutting down."""

            draining_task: asyncio.Task[None] | None = None

            def handle_exit(self, sig: int, frame: Any) -> None:
                if self.draining_task is not None or sig not in (signal.SIGTERM, signal.SIGINT):
                    return super().handle_exit(sig, frame)
                loop = asyncio.get_event_loop()

                async def drain_then_exit() -> None:
                    try:
                        await drain()
                    finally:
                        self.should_exit = True

                def start() -> None:
                    self.draining_task = loop.create_task(drain_then_exit())

                loop.call_soon_threadsafe(start)

        config = uvicorn.Config(
            "realtime.asgi:application",
            host=options["host"],
            port=options["port"],
            loop="uvloop",
            http="httptools",
            ws="websockets-sansio",
            ws_max_size=settings.WS_MAX_FRAME_BYTES,
            ws_per_message_deflate=False,
            ws_ping_interval=None,  # the protocol's own heartbeat and 4408 do this job
            lifespan="on",
            log_config=None,  # Django's LOGGING (redaction, JSON) is the only config
            access_log=False,  # RequestContextMiddleware writes a redacted access line
            proxy_headers=True,
            forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
            timeout_graceful_shutdown=settings.DRAIN_TIMEOUT,
            workers=options["workers"] if options["workers"] > 1 else None,
        )
        server = DrainingServer(config)
        if options["workers"] > 1:
            from uvicorn.supervisors import Multiprocess

            sock = config.bind_socket()
            Multiprocess(config, target=server.run, sockets=[sock]).run()
        else:
            server.run()
