"""ASGI lifespan: start the hub with the server, drain and release it on the way out."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from realtime.ws import metrics
from realtime.ws.closecodes import CloseCode
from realtime.ws.conf import setting
from realtime.ws.hub import hub

log = logging.getLogger("realtime.lifespan")


async def drain(timeout: float | None = None) -> None:
    """Refuse new sockets, close every open one with 1012, wait for them to go (bounded)."""
    if hub.draining:
        return
    hub.draining = True
    metrics.DRAINING.set(1)
    metrics.READY.set(0)
    timeout = float(setting("DRAIN_TIMEOUT")) if timeout is None else timeout
    sockets = tuple(hub.sockets)
    log.warning("draining: closing %d sockets with 1012", len(sockets))
    for sock in sockets:
        asyncio.get_running_loop().create_task(sock.close(CloseCode.SERVICE_RESTART))
    deadline = time.monotonic() + timeout
    while hub.sockets and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    if hub.sockets:
        log.error("drain timeout: %d sockets still open", len(hub.sockets))


class LifespanApp:
    """Handles the `lifespan` scope and passes everything else to `inner`."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "lifespan":
            return await self.inner(scope, receive, send)
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await hub.start()
                    metrics.READY.set(1)
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await drain()
                    await hub.stop()
                except Exception:
                    log.exception("shutdown failed")
                await send({"type": "lifespan.shutdown.complete"})
                return
