"""Events of commands in embedded mode: through the database to the serving process.

A manage.py command serves no sockets; in cluster mode its events take the channel layer,
and in embedded mode (one process, no Redis) they are rows of the outbox, which the
serving process polls here and hands to its hub.
"""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async

from realtime.fanout.events import Event
from realtime.fanout.hub import Hub
from realtime.registry import services
from realtime.registry.process import is_cluster

log = logging.getLogger("realtime.outbox")

#: seconds between polls: a command's event reaches sockets within about this long
POLL_SECONDS = 0.25


class OutboxPoller:
    """A lifecycle part, embedded mode only: polls the outbox into the hub."""

    name = "outbox"

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start polling from the newest row (what was queued before is not replayed)."""
        if is_cluster():
            return
        last = await database_sync_to_async(services.outbox_last_id)()
        self._task = asyncio.get_running_loop().create_task(self._poll(last))

    async def stop(self) -> None:
        """Stop polling."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _poll(self, last: int) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                rows = await database_sync_to_async(services.outbox_take)(after_id=last)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox poll failed; retrying")
                continue
            for row_id, topic, payload in rows:
                last = row_id
                self.hub.deliver_local(topic, Event.from_wire(payload))
