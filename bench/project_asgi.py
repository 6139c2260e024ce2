"""The project's ASGI app as the other ASGI servers load it in the bench.

`realtime.asgi:application`, plus what `manage.py serve` does at startup:

- `realtime.server.serve.tune_gc` (GC young generation of 20,000, the startup objects
  frozen). It is not part of uvicorn: on a socket server, Python's default thresholds
  cost about a tenth of the CPU and handshakes/s fall as sockets accumulate. A server
  compared without it would be measured on the collector, not on its socket path. It
  runs at import, which the servers do in the serving process before any connection.
- The process lifecycle (lease, hub, outbox, presence), which uvicorn starts through
  ASGI lifespan. daphne sends no lifespan events, so here it also starts at the first
  connection of any kind when no lifespan started it.
"""

import asyncio
from typing import Any

from realtime.asgi import application as _application
from realtime.asgi import lifecycle
from realtime.server.serve import tune_gc

tune_gc()

_starting: asyncio.Lock | None = None


async def application(scope: dict[str, Any], receive: Any, send: Any) -> Any:
    """The project's app, with the lifecycle started if no lifespan did it."""
    global _starting
    if scope["type"] != "lifespan" and not lifecycle.running:
        if _starting is None:
            _starting = asyncio.Lock()
        async with _starting:
            if not lifecycle.running:
                await lifecycle.start()
    return await _application(scope, receive, send)


__all__ = ["application"]
