"""ASGI lifespan: start the hub with the server, drain and release it on the way out."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from django.conf import settings

from realtime.fanout.hub import hub
from realtime.socket.closecodes import CloseCode
from realtime.web import metrics

log = logging.getLogger("realtime.lifespan")


async def drain(limit: float | None = None) -> None:
    """The graceful drain (SIGTERM), bounded by DRAIN_TIMEOUT plus the linger.

    At once: /readyz answers 503 and the gate refuses new handshakes (HTTP 403). Then every
    open socket is closed with 1012 (what is queued for it goes first, briefly bounded);
    each socket's teardown removes its registry row, so presence leaves are announced. A
    frame being handled keeps running: its service commits or rolls back whole, and the
    process's remaining rows go with process_release() at shutdown. Last, the process
    lingers (still refusing, still 503) so load balancers see it leave before it closes
    its port.
    """
    if hub.draining:
        return
    started = time.monotonic()
    hub.draining = True
    metrics.DRAINING.set(1)
    metrics.READY.set(0)
    timeout = float(settings.DRAIN_TIMEOUT) if limit is None else limit
    linger = float(settings.DRAIN_LINGER_SECONDS)
    sockets = tuple(hub.sockets)
    log.warning("draining: closing %d sockets with 1012", len(sockets))
    loop = asyncio.get_running_loop()
    closing = [
        loop.create_task(sock.close(CloseCode.SERVICE_RESTART)) for sock in sockets
    ]
    deadline = started + timeout
    # Sockets leave hub.sockets in their own teardown (registry row removed): poll it.
    while hub.sockets and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    if hub.sockets:
        log.error("drain timeout: %d sockets still open", len(hub.sockets))
    for task in closing:
        if not task.done():
            task.cancel()
    remaining = max(0.0, min(linger, deadline + linger - time.monotonic()))
    if remaining:
        await asyncio.sleep(remaining)
    log.warning("drained in %.2fs", time.monotonic() - started)


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
