"""The serving process's background duties: its lease, sweeping dead peers, the outbox."""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async
from django.conf import settings

from realtime.fanout.hub import Event, Hub
from realtime.registry import services
from realtime.registry.process import PROCESS_ID, is_cluster

log = logging.getLogger("realtime.registry")

OUTBOX_POLL_SECONDS = 0.25


async def _lease_loop() -> None:
    lease = float(settings.WS_PROCESS_LEASE_SECONDS)
    while True:
        await asyncio.sleep(lease / 3)
        try:
            await database_sync_to_async(services.process_renew)(
                process_id=PROCESS_ID, lease_seconds=lease
            )
            swept = await database_sync_to_async(services.processes_sweep)(
                exclude=PROCESS_ID
            )
            await database_sync_to_async(services.outbox_prune)()
            if swept:
                log.warning("swept %d sockets of dead processes", len(swept))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("lease renewal or sweep failed; retrying")


async def _outbox_loop(hub: Hub) -> None:
    last = await database_sync_to_async(services.outbox_last_id)()
    while True:
        await asyncio.sleep(OUTBOX_POLL_SECONDS)
        try:
            rows = await database_sync_to_async(services.outbox_take)(after_id=last)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("outbox poll failed; retrying")
            continue
        for row_id, topic, payload in rows:
            last = row_id
            hub.deliver_local(topic, Event.from_wire(payload))


def install(hub: Hub) -> None:
    """Register the start and stop hooks on `hub` (once per process)."""

    async def start() -> None:
        lease = float(settings.WS_PROCESS_LEASE_SECONDS)
        await database_sync_to_async(services.process_register)(
            process_id=PROCESS_ID, lease_seconds=lease
        )
        # A restart on the same host sweeps what a killed predecessor left.
        await database_sync_to_async(services.processes_sweep)(exclude=PROCESS_ID)
        loop = asyncio.get_running_loop()
        hub._tasks.append(loop.create_task(_lease_loop()))
        if not is_cluster():
            hub._tasks.append(loop.create_task(_outbox_loop(hub)))

    async def stop() -> None:
        await database_sync_to_async(services.process_release)(process_id=PROCESS_ID)

    hub.on_start.append(start)
    hub.on_stop.append(stop)
