"""The per-process presence batcher: which rooms may have changed, flushed once per interval.

Candidates come from this process's sockets (a chat socket opened; a registry row removed,
which the plumbing's `connections_closed` signal reports for clean closes and for the
sweep of dead processes) and from a periodic reconciliation. Once per
WS_PRESENCE_INTERVAL the dirty rooms go to `services.presence_flush`, which computes each
room's diff from the database and publishes it after commit. No ORM here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction

from chat.topics import ROUTE

# The name it had before the module was renamed: the log output stays the same.
log = logging.getLogger("chat.presence")

MIN_RETRY_SECONDS = 0.05


class PresenceBatcher:
    """One per serving process: a part of its lifecycle (realtime/asgi.py)."""

    name = "presence"

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.dirty: set[str] = set()
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # --- life ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the flush and reconciliation loops on the running loop."""
        self.loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._tasks = [
            self.loop.create_task(self._flush_loop()),
            self.loop.create_task(self._reconcile_loop()),
        ]
        if self.dirty:
            self._wake.set()

    async def stop(self) -> None:
        """Stop the loops.

        What is still pending is not flushed here: a frame published while the process
        stops may never leave it, and once flushed the change counts as announced. The
        rows are gone, so the survivors' reconciliation announces those leaves instead.
        """
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        self.loop = self._wake = None
        self.dirty = set()

    # --- marking rooms -------------------------------------------------------------------
    def mark(self, room_key: str) -> None:
        """A room may have a presence change (call on the serving loop)."""
        self.mark_many((room_key,))

    def mark_many(self, room_keys: Iterable[str]) -> None:
        """mark() for several rooms."""
        self.dirty.update(k for k in room_keys if k)
        if self.dirty and self._wake is not None:
            self._wake.set()

    def mark_threadsafe(self, room_keys: Iterable[str]) -> None:
        """mark_many() from any thread; without a serving loop, flush right here (sync)."""
        keys = set(room_keys)
        if not keys:
            return
        loop = self.loop
        if loop is not None and not loop.is_closed():
            try:
                on_loop = asyncio.get_running_loop() is loop
            except RuntimeError:
                on_loop = False
            if on_loop:
                self.mark_many(keys)
            else:
                loop.call_soon_threadsafe(self.mark_many, keys)
            return
        from chat import services

        services.presence_flush(room_keys=keys, interval=0)

    # --- the loops -----------------------------------------------------------------------
    async def _flush_loop(self) -> None:
        assert self._wake is not None
        delay: float | None = None
        while True:
            await self._wake.wait()
            interval = float(settings.WS_PRESENCE_INTERVAL)
            # The batch window opens with the first change: who joins and leaves inside it
            # appears in neither list.
            await asyncio.sleep(interval if delay is None else delay)
            self._wake.clear()
            keys, self.dirty = self.dirty, set()
            deferred = await self._flush(keys, interval)
            if deferred:
                self.dirty.update(deferred)
                self._wake.set()
                delay = max(MIN_RETRY_SECONDS, min(deferred.values()))
            else:
                delay = None

    async def _flush(self, keys: set[str], interval: float) -> dict[str, float]:
        from chat import services

        try:
            return await database_sync_to_async(services.presence_flush)(
                room_keys=keys, interval=interval
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("presence flush failed; retrying")
            return {key: max(interval, MIN_RETRY_SECONDS) for key in keys}

    async def _reconcile_loop(self) -> None:
        """Every lease period, re-check rooms whose announced presence drifted from the rows."""
        from chat import selectors

        while True:
            await asyncio.sleep(max(1.0, float(settings.WS_PROCESS_LEASE_SECONDS)))
            try:
                stale = await database_sync_to_async(selectors.presence_stale_rooms)()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("presence reconciliation failed; retrying")
                continue
            if stale:
                self.mark_many(stale)


batcher = PresenceBatcher()


def on_connections_closed(sender: Any, connections: list[Any], **kwargs: Any) -> None:
    """Registry rows removed (a close, or a dead process swept): their rooms may have leaves."""
    keys = {c.room_key for c in connections if c.route == ROUTE and c.room_key}
    if keys:
        # After the commit, so the flush sees the rows gone.
        transaction.on_commit(lambda: batcher.mark_threadsafe(keys))
