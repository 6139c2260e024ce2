"""This process's lease: its row in the registry, renewed, and the sweep of dead peers.

A process registers itself at start and renews its lease every third of
WS_PROCESS_LEASE_SECONDS; every renewal also sweeps the processes whose lease ran out
(a SIGKILLed peer: its sockets' rows go, and apps hear of each through
`connections_closed`) and prunes the outbox. At a clean stop the process removes its
own rows.
"""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async
from django.conf import settings

from realtime.registry import services
from realtime.registry.process import PROCESS_ID

log = logging.getLogger("realtime.registry")


class ProcessLease:
    """A lifecycle part: the process's registry row and its lease loop."""

    name = "lease"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Register this process and sweep what a killed predecessor left."""
        lease = float(settings.WS_PROCESS_LEASE_SECONDS)
        await database_sync_to_async(services.process_register)(
            process_id=PROCESS_ID, lease_seconds=lease
        )
        await database_sync_to_async(services.processes_sweep)(exclude=PROCESS_ID)
        self._task = asyncio.get_running_loop().create_task(self._renew_loop(lease))

    async def stop(self) -> None:
        """Stop renewing and remove this process's rows (a clean exit)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        await database_sync_to_async(services.process_release)(process_id=PROCESS_ID)

    @staticmethod
    async def _renew_loop(lease: float) -> None:
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
