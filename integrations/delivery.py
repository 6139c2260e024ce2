"""The webhook delivery loop: a lifecycle part of every serving process.

It claims due outbox rows (integrations.services), POSTs each with the asyncio client
(integrations.sender), at most WEBHOOK_MAX_IN_FLIGHT at once, and records the answer.
It never touches the socket path: its database work runs on a thread of its own (not
Channels' one database thread, which every socket's queries share), and its HTTP is
non-blocking I/O with a timeout. A slow or dead receiver costs this loop a slot, no
socket anything.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import close_old_connections, connections

from integrations import addresses, events, selectors, sender, services

log = logging.getLogger("integrations.webhooks")

T = TypeVar("T")

#: seconds between two prunes of finished deliveries (services.KEEP_FINISHED)
PRUNE_SECONDS = 3600.0


class WebhookDeliverer:
    """Delivers the webhook outbox (see the module docstring)."""

    name = "webhooks"

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._in_flight: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Start the loop on the running event loop."""
        self.loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="webhooks")
        self._task = self.loop.create_task(self._run())

    async def stop(self) -> None:
        """Stop: attempts in flight are abandoned; their rows are retried after the claim.

        A receiver may so get an event twice (delivery is at least once).
        """
        tasks = [t for t in (self._task, *self._in_flight) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task, self._in_flight = None, set()
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(
                executor, connections.close_all
            )
            executor.shutdown(wait=False)
        self.loop = self._wake = None

    def wake_threadsafe(self) -> None:
        """New rows were committed in this process: look now, not at the next poll."""
        loop, wake = self.loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(wake.set)
        except RuntimeError:  # the loop closed meanwhile
            pass

    async def _db(self, fn: Callable[..., T], **kwargs: Any) -> T:
        """Run a service on this loop's own database thread."""

        def call() -> T:
            close_old_connections()
            try:
                return fn(**kwargs)
            finally:
                close_old_connections()

        assert self.loop is not None and self._executor is not None
        return await self.loop.run_in_executor(self._executor, call)

    async def _run(self) -> None:
        assert self._wake is not None and self.loop is not None
        next_prune = self.loop.time()
        while True:
            try:
                if self.loop.time() >= next_prune:
                    next_prune = self.loop.time() + PRUNE_SECONDS
                    await self._db(services.webhook_deliveries_prune)
                await self._claim_and_send()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook delivery poll failed; retrying")
            try:
                async with asyncio.timeout(float(settings.WEBHOOK_POLL_SECONDS)):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()

    async def _claim_and_send(self) -> None:
        free = int(settings.WEBHOOK_MAX_IN_FLIGHT) - len(self._in_flight)
        if free <= 0 or not await self._db(selectors.deliveries_due):
            return
        claimed = await self._db(services.webhook_deliveries_claim, limit=free)
        assert self.loop is not None
        for item in claimed:
            task = self.loop.create_task(self._send(item))
            self._in_flight.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if self._wake is not None:
            self._wake.set()  # a slot is free: more may be due

    async def _send(self, item: services.Claimed) -> None:
        body = item.body.encode()
        status: int | None = None
        error: str | None = None
        try:
            status = await sender.post(
                item.url,
                body,
                events.signature(item.secret, body),
                limit=float(settings.WEBHOOK_TIMEOUT),
            )
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            error = f"timed out after {settings.WEBHOOK_TIMEOUT} s"
        except addresses.AddressRefused as exc:
            error = f"refused: {exc}"
        except (OSError, sender.BadResponse, ValidationError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a bug here must not lose the row: it is recorded
            log.exception("webhook delivery %d failed unexpectedly", item.id)
            error = f"internal error: {type(exc).__name__}"
        if error is not None:
            log.warning(
                "webhook delivery %d failed (attempt %d): %s",
                item.id,
                item.attempts,
                error,
            )
        try:
            await self._db(
                services.webhook_delivery_record,
                delivery_id=item.id,
                status=status,
                error=error,
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            # The claim runs out and the row is tried again: at least once.
            log.exception("could not record webhook delivery %d", item.id)


deliverer = WebhookDeliverer()
