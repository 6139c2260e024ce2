"""The process's life: its background parts started in order, a drain, and ASGI lifespan.

The assembly (realtime/asgi.py) makes one Lifecycle of the process's parts (the lease,
the hub and its relay, the outbox poller, the apps' own such as chat's presence batcher);
`manage.py serve` starts it through ASGI lifespan, tests start it on their own loop. It
starts the parts in the order given and stops them in reverse, so the lease (the
process's registry row) is first up and last down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

from django.conf import settings

from realtime.fanout.hub import hub
from realtime.socket.closecodes import CloseCode
from realtime.web import metrics

log = logging.getLogger("realtime.lifespan")


class Part(Protocol):
    """A background duty of the process: started and stopped on the serving loop."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Lifecycle:
    """Starts its parts in order, stops them in reverse (see the module docstring)."""

    def __init__(self, parts: Sequence[Part]) -> None:
        self.parts = tuple(parts)
        self._started: list[Part] = []

    @property
    def running(self) -> bool:
        """True between a start() and its stop()."""
        return bool(self._started)

    async def start(self) -> None:
        """Start every part; if one fails, stop those already started and raise."""
        if self._started:
            return
        for part in self.parts:
            try:
                await part.start()
            except BaseException:
                log.exception("startup failed in %s", part.name)
                await self.stop()
                raise
            self._started.append(part)
        metrics.READY.set(1)

    async def stop(self) -> None:
        """Stop the started parts, last first; a failing one does not keep the others up."""
        while self._started:
            part = self._started.pop()
            try:
                await part.stop()
            except Exception:
                log.exception("stop failed in %s", part.name)


async def drain(limit: float | None = None) -> None:
    """The graceful drain (SIGTERM), bounded by DRAIN_TIMEOUT plus the linger.

    At once: /readyz answers 503 and the gate refuses new handshakes (HTTP 403). Then every
    open socket is closed with 1012 (what is queued for it goes first, briefly bounded);
    each socket's teardown removes its registry row, so presence leaves are announced. A
    frame being handled keeps running: its service commits or rolls back whole, and the
    process's remaining rows go when the lease part stops. Last, the process lingers
    (still refusing, still 503) so load balancers see it leave before it closes its port.
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
        loop.create_task(sock.close(CloseCode.SERVICE_RESTART))  # type: ignore[attr-defined]
        for sock in sockets
    ]
    deadline = started + timeout
    # Each socket leaves the hub in its own teardown, after its registry row is gone.
    try:
        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
            await hub.wait_no_sockets()
    except TimeoutError:
        log.error("drain timeout: %d sockets still open", len(hub.sockets))
    for task in closing:
        if not task.done():
            task.cancel()
    remaining = max(0.0, min(linger, deadline + linger - time.monotonic()))
    if remaining:
        await asyncio.sleep(remaining)
    log.warning("drained in %.2fs", time.monotonic() - started)


class LifespanApp:
    """Handles the `lifespan` scope (start and stop the lifecycle), passes the rest on."""

    def __init__(self, inner: Any, lifecycle: Lifecycle) -> None:
        self.inner = inner
        self.lifecycle = lifecycle

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "lifespan":
            return await self.inner(scope, receive, send)
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.lifecycle.start()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await drain()
                except Exception:
                    log.exception("drain failed")
                await self.lifecycle.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return
