"""The process-local fan-out hub.

Every socket of this process subscribes to topics (a room, a user). A published event is
encoded once and handed to each local subscriber directly; across processes it travels as
ONE channel-layer message per process (the process channel joins a topic's group while any
local socket wants it), never one message per member. When the layer fails, local delivery
goes on and the hub says so (degraded mode, PROTOCOL.md section 6) until the layer is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from channels.layers import get_channel_layer

from realtime.ws import metrics
from realtime.ws.conf import PROCESS_ID, is_cluster

log = logging.getLogger("realtime.hub")

RELAY_TYPE = "hub.relay"
DEGRADED_BODY = "Live delivery between servers is interrupted; messages are still stored."


@dataclass(frozen=True, slots=True)
class Event:
    """What travels to subscribers: a pre-encoded frame, or an order to close."""

    text: str | None = None  # the JSON frame, encoded once for every recipient
    kind: str = ""  # the frame's type, for metrics
    close_code: int | None = None  # close the socket with this code instead
    user_id: int | None = None  # only the sockets of this user

    def to_wire(self) -> dict[str, Any]:
        """The channel-layer form (msgpack-safe)."""
        return {"text": self.text, "kind": self.kind, "close": self.close_code, "user": self.user_id}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Event:
        """Inverse of to_wire()."""
        return cls(
            text=data.get("text"),
            kind=data.get("kind") or "",
            close_code=data.get("close"),
            user_id=data.get("user"),
        )


class Subscriber(Protocol):
    """A local socket: takes an event without awaiting (it queues, or closes itself)."""

    def deliver(self, event: Event) -> None: ...


class Hub:
    """One per serving process; see the module docstring."""

    def __init__(self) -> None:
        self.topics: dict[str, set[Subscriber]] = {}
        self.sockets: set[Subscriber] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.layer: Any = None
        self.channel: str | None = None
        self.degraded = False
        self.draining = False
        self._relay_queue: asyncio.Queue[tuple[str, dict[str, Any]]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._start_lock: asyncio.Lock | None = None
        self.on_start: list[Callable[[], Any]] = list(getattr(self, "on_start", []))
        self.on_stop: list[Callable[[], Any]] = list(getattr(self, "on_stop", []))

    # --- life ------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True once started, while its event loop lives."""
        return self._started and self.loop is not None and not self.loop.is_closed()

    async def start(self) -> None:
        """Bind to the running loop, open the process channel, start the relay tasks."""
        loop = asyncio.get_running_loop()
        if self._started and self.loop is loop:
            return
        if self._started:  # a previous loop is gone (tests run one loop each): start afresh
            self.__init__()  # type: ignore[misc]
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._started:
                return
            self.loop = asyncio.get_running_loop()
            self._relay_queue = asyncio.Queue(maxsize=100_000)
            if is_cluster():
                self.layer = get_channel_layer()
                self.channel = await self.layer.new_channel(prefix=f"proc.{PROCESS_ID}.")
                self._tasks.append(self.loop.create_task(self._receive_loop()))
                self._tasks.append(self.loop.create_task(self._send_loop()))
            self._started = True
            for hook in self.on_start:
                result = hook()
                if asyncio.iscoroutine(result):
                    await result
            log.info("hub started", extra={"process_id": PROCESS_ID, "cluster": is_cluster()})

    async def stop(self) -> None:
        """Stop the relay tasks and run the stop hooks (lease release)."""
        if not self._started:
            return
        for hook in self.on_stop:
            try:
                result = hook()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                log.exception("hub stop hook failed")
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        self._started = False

    # --- subscriptions ---------------------------------------------------------------------
    async def subscribe(self, topic: str, sub: Subscriber) -> None:
        """Deliver `topic`'s events to `sub`; the first local subscriber joins the layer group."""
        subs = self.topics.get(topic)
        if subs is None:
            subs = self.topics[topic] = set()
            if self.layer is not None:
                await self._layer_call(self.layer.group_add(topic, self.channel))
        subs.add(sub)

    async def unsubscribe(self, topic: str, sub: Subscriber) -> None:
        """Undo subscribe(); the last local subscriber leaves the layer group."""
        subs = self.topics.get(topic)
        if not subs:
            return
        subs.discard(sub)
        if not subs:
            del self.topics[topic]
            if self.layer is not None:
                await self._layer_call(self.layer.group_discard(topic, self.channel))

    def local_subscribers(self, topic: str) -> Iterable[Subscriber]:
        """The local sockets on `topic` (a copy, safe to iterate while they close)."""
        return tuple(self.topics.get(topic, ()))

    # --- publishing ------------------------------------------------------------------------
    def deliver_local(self, topic: str, event: Event) -> int:
        """Hand `event` to every local subscriber of `topic`; returns how many."""
        subs = self.topics.get(topic)
        if not subs:
            return 0
        started = time.perf_counter()
        count = 0
        for sub in tuple(subs):
            try:
                sub.deliver(event)
                count += 1
            except Exception:
                log.exception("delivery to a socket failed", extra={"topic": topic})
        metrics.BROADCAST_SECONDS.observe(time.perf_counter() - started)
        return count

    def publish_nowait(self, topic: str, event: Event) -> None:
        """Deliver locally now and queue the cross-process relay (in the hub's loop)."""
        self.deliver_local(topic, event)
        if self.layer is not None and self._relay_queue is not None:
            try:
                self._relay_queue.put_nowait((topic, event.to_wire()))
            except asyncio.QueueFull:
                metrics.FRAMES_DROPPED.labels(reason="relay_queue_full").inc()
                log.error("relay queue full; event not relayed", extra={"topic": topic})

    def publish_threadsafe(self, topic: str, event: Event) -> None:
        """publish_nowait() from any thread (a service's on-commit callback)."""
        assert self.loop is not None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.publish_nowait(topic, event)
        else:
            self.loop.call_soon_threadsafe(self.publish_nowait, topic, event)

    def broadcast_all(self, event: Event) -> None:
        """Hand `event` to every local socket (degraded notice, drain)."""
        for sub in tuple(self.sockets):
            try:
                sub.deliver(event)
            except Exception:
                log.exception("delivery to a socket failed")

    # --- the cross-process relay -------------------------------------------------------------
    async def _send_loop(self) -> None:
        """Relay queued events in publish order, one group message per topic per event."""
        assert self._relay_queue is not None
        while True:
            topic, wire = await self._relay_queue.get()
            message = {"type": RELAY_TYPE, "topic": topic, "origin": PROCESS_ID, "event": wire}
            ok = await self._layer_call(self.layer.group_send(topic, message))
            if not ok:
                # The database holds the message; clients on other processes backfill by seq.
                metrics.FRAMES_DROPPED.labels(reason="layer_down").inc()

    async def _receive_loop(self) -> None:
        """Deliver events that other processes published to topics held here."""
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                await self._set_degraded(True)
                await asyncio.sleep(1.0)
                continue
            if message.get("type") != RELAY_TYPE or message.get("origin") == PROCESS_ID:
                continue
            topic = message.get("topic")
            if isinstance(topic, str) and isinstance(message.get("event"), dict):
                self.deliver_local(topic, Event.from_wire(message["event"]))

    async def _layer_call(self, awaitable: Any) -> bool:
        """Await a layer call; a failure flips degraded mode instead of raising."""
        try:
            await asyncio.wait_for(awaitable, timeout=5.0)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("channel layer call failed: %s", type(exc).__name__)
            await self._set_degraded(True)
            return False
        if self.degraded:
            await self._set_degraded(False)
        return True

    async def _set_degraded(self, value: bool) -> None:
        if value == self.degraded:
            return
        self.degraded = value
        metrics.DEGRADED.set(1 if value else 0)
        metrics.CHANNEL_LAYER_UP.set(0 if value else 1)
        if value:
            log.error("channel layer unreachable: degraded mode")
            from realtime.ws.frames import system_frame

            self.broadcast_all(Event(text=system_frame(DEGRADED_BODY, degraded=True), kind="system"))
            self._tasks.append(asyncio.get_running_loop().create_task(self._recover()))
        else:
            log.warning("channel layer back: cross-process delivery resumed")

    async def _recover(self) -> None:
        """Probe the layer until it answers, then re-join every group held here."""
        while self.degraded:
            await asyncio.sleep(1.0)
            try:
                for topic in list(self.topics):
                    await asyncio.wait_for(self.layer.group_add(topic, self.channel), timeout=2.0)
                await asyncio.wait_for(
                    self.layer.group_send(f"probe.{PROCESS_ID}"[:99], {"type": "probe"}), 2.0
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                continue
            await self._set_degraded(False)

    async def check_layer(self) -> bool:
        """Whether the channel layer answers now (for /readyz)."""
        if not is_cluster():
            return True
        layer = self.layer or get_channel_layer()
        try:
            await asyncio.wait_for(layer.group_send(f"probe.{PROCESS_ID}"[:99], {"type": "probe"}), 2.0)
        except Exception:
            return False
        return True


hub = Hub()
