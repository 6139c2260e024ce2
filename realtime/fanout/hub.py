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
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from channels.layers import get_channel_layer

from realtime.registry.process import PROCESS_ID, is_cluster
from realtime.web import metrics

log = logging.getLogger("realtime.hub")

RELAY_TYPE = "hub.relay"
PROBE_TYPE = "hub.probe"
DEGRADED_BODY = (
    "Live delivery between servers is interrupted; messages are still stored."
)
RESTORED_BODY = "Live delivery between servers is back; fetch what you missed by seq."
LAYER_TIMEOUT = 5.0  # bound on any one channel-layer call (pub/sub may hang, not raise)
PROBE_INTERVAL = 1.0  # seconds between round-trip probes of the layer
PROBE_TIMEOUT = 3.0
RECOVER_MAX_DELAY = 4.0
RELAY_BATCH = 200  # events per relay batch at most
RELAY_BATCH_BYTES = 256 * 1024  # and about this many bytes of frames


@dataclass(frozen=True, slots=True)
class Event:
    """What travels to subscribers: a pre-encoded frame, or an order to close."""

    text: str | None = None  # the JSON frame, encoded once for every recipient
    kind: str = ""  # the frame's type, for metrics
    close_code: int | None = None  # close the socket with this code instead
    user_id: int | None = None  # only the sockets of this user

    def to_wire(self) -> dict[str, Any]:
        """The channel-layer form (msgpack-safe)."""
        return {
            "text": self.text,
            "kind": self.kind,
            "close": self.close_code,
            "user": self.user_id,
        }

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
        self.probe_group = (
            "hub.probe." + re.sub(r"[^a-zA-Z0-9_.-]", "-", PROCESS_ID)[:80]
        )
        self._probes: dict[str, asyncio.Future[bool]] = {}
        self._stale: set[str] = (
            set()
        )  # topics left while degraded, to leave on recovery
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
        if self._started:
            # A previous loop is gone (tests run one loop each): start afresh.
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
                metrics.CHANNEL_LAYER_UP.set(1)
                metrics.DEGRADED.set(0)
                try:
                    await self._open_channel()
                    await self._rejoin()
                except Exception as exc:
                    # Serve anyway: local delivery works, the recovery loop joins later.
                    log.error(
                        "channel layer unreachable at start: %s", type(exc).__name__
                    )
                    await self._set_degraded(True)
                self._tasks.append(self.loop.create_task(self._receive_loop()))
                self._tasks.append(self.loop.create_task(self._send_loop()))
                self._tasks.append(self.loop.create_task(self._probe_loop()))
            self._started = True
            for hook in self.on_start:
                result = hook()
                if asyncio.iscoroutine(result):
                    await result
            log.info(
                "hub started", extra={"process_id": PROCESS_ID, "cluster": is_cluster()}
            )

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
            self._stale.discard(topic)
            if (
                self.layer is not None
                and not self.degraded
                and self.channel is not None
            ):
                # While degraded the recovery loop joins every topic held here.
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
            if self.layer is None or self.channel is None:
                return
            if self.degraded:
                self._stale.add(topic)
            elif not await self._layer_call(
                self.layer.group_discard(topic, self.channel)
            ):
                self._stale.add(topic)

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

    def publish_threadsafe(self, batch: Sequence[tuple[str, Event]]) -> None:
        """publish_nowait() for `(topic, event)` pairs, in order, from any thread (a
        service's on-commit callback): one loop hop for the whole batch."""
        assert self.loop is not None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self._publish_all(batch)
        else:
            self.loop.call_soon_threadsafe(self._publish_all, batch)

    def _publish_all(self, batch: Sequence[tuple[str, Event]]) -> None:
        for topic, event in batch:
            self.publish_nowait(topic, event)

    def broadcast_all(self, event: Event) -> None:
        """Hand `event` to every local socket (degraded notice, drain)."""
        for sub in tuple(self.sockets):
            try:
                sub.deliver(event)
            except Exception:
                log.exception("delivery to a socket failed")

    # --- the cross-process relay -------------------------------------------------------------
    async def _send_loop(self) -> None:
        """Relay queued events in publish order: per topic, one group message per batch.

        Under a burst the queue holds several events; they leave as one layer message per
        topic (order kept), so a busy room costs one round trip per batch, not per event.
        While the layer is down events are dropped at once (the database holds them; other
        processes' clients backfill by seq), so a dead Redis never delays anything.
        """
        assert self._relay_queue is not None
        queue = self._relay_queue
        while True:
            batch = [await queue.get()]
            size = len(batch[0][1].get("text") or "")
            while (
                not queue.empty()
                and len(batch) < RELAY_BATCH
                and size < RELAY_BATCH_BYTES
            ):
                item = queue.get_nowait()
                batch.append(item)
                size += len(item[1].get("text") or "")
            if self.degraded or self.channel is None:
                metrics.FRAMES_DROPPED.labels(reason="layer_down").inc(len(batch))
                continue
            by_topic: dict[str, list[dict[str, Any]]] = {}
            for topic, wire in batch:
                by_topic.setdefault(topic, []).append(wire)
            for topic, wires in by_topic.items():
                message = {
                    "type": RELAY_TYPE,
                    "topic": topic,
                    "origin": PROCESS_ID,
                    "events": wires,
                }
                if not await self._layer_call(self.layer.group_send(topic, message)):
                    metrics.FRAMES_DROPPED.labels(reason="layer_down").inc(len(wires))

    async def _receive_loop(self) -> None:
        """Deliver events that other processes published to topics held here.

        It never ends while the hub runs: a failing receive (core layer) or none at all
        (pub/sub, which waits quietly while Redis is gone) is the probe loop's business.
        """
        while True:
            if self.channel is None:
                await asyncio.sleep(0.2)
                continue
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("channel layer receive failed: %s", type(exc).__name__)
                await self._set_degraded(True)
                await asyncio.sleep(1.0)
                continue
            try:
                self._on_layer_message(message)
            except Exception:
                log.exception("bad relay message dropped")

    def _on_layer_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == PROBE_TYPE:
            waiter = self._probes.pop(str(message.get("nonce")), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(True)
            return
        if kind != RELAY_TYPE or message.get("origin") == PROCESS_ID:
            return
        topic = message.get("topic")
        if not isinstance(topic, str):
            return
        wires = message.get("events")
        if wires is None and isinstance(message.get("event"), dict):
            wires = [
                message["event"]
            ]  # one event, as broadcast.dispatch sends from commands
        for wire in wires or ():
            if isinstance(wire, dict):
                self.deliver_local(topic, Event.from_wire(wire))

    async def _layer_call(self, awaitable: Any) -> bool:
        """Await a layer call, bounded; a failure flips degraded mode instead of raising.

        Success never clears degraded mode: only the recovery loop does, after it has
        re-joined every group this process holds.
        """
        try:
            # asyncio.timeout, not wait_for: no task per call (one per relayed topic).
            async with asyncio.timeout(LAYER_TIMEOUT):
                await awaitable
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("channel layer call failed: %s", type(exc).__name__)
            await self._set_degraded(True)
            return False
        return True

    async def _round_trip(self) -> None:
        """Send a probe to this process's own probe group and wait for it to come back.

        This proves both directions (publish and this process's subscription), which is
        what cross-process delivery needs; raises on failure or timeout.
        """
        nonce = uuid.uuid4().hex
        waiter = asyncio.get_running_loop().create_future()
        self._probes[nonce] = waiter
        try:
            await asyncio.wait_for(
                self.layer.group_send(
                    self.probe_group, {"type": PROBE_TYPE, "nonce": nonce}
                ),
                PROBE_TIMEOUT,
            )
            await asyncio.wait_for(waiter, PROBE_TIMEOUT)
        finally:
            self._probes.pop(nonce, None)

    async def _probe_loop(self) -> None:
        """Notice a lost layer even when nothing is published (pub/sub never raises then)."""
        while True:
            await asyncio.sleep(PROBE_INTERVAL)
            if self.degraded or self.channel is None:
                continue
            try:
                await self._round_trip()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "channel layer probe failed: %s", type(exc).__name__ or "timeout"
                )
                await self._set_degraded(True)

    async def _set_degraded(self, value: bool) -> None:
        if value == self.degraded:
            return
        self.degraded = value
        metrics.DEGRADED.set(1 if value else 0)
        metrics.CHANNEL_LAYER_UP.set(0 if value else 1)
        from realtime.socket.frames import system_frame

        if value:
            log.error("channel layer unreachable: degraded mode")
            self.broadcast_all(
                Event(text=system_frame(DEGRADED_BODY, degraded=True), kind="system")
            )
            self._tasks.append(asyncio.get_running_loop().create_task(self._recover()))
        else:
            log.warning("channel layer back: cross-process delivery resumed")
            self.broadcast_all(
                Event(text=system_frame(RESTORED_BODY, degraded=False), kind="system")
            )

    async def _open_channel(self) -> None:
        channel = await asyncio.wait_for(
            self.layer.new_channel(prefix=f"proc.{PROCESS_ID}."), LAYER_TIMEOUT
        )
        self.channel = channel

    async def _rejoin(self) -> None:
        """Join the layer group of every topic held here (and the probe group); drop stale ones."""
        assert self.channel is not None
        await asyncio.wait_for(
            self.layer.group_add(self.probe_group, self.channel), PROBE_TIMEOUT
        )
        for topic in list(self.topics):
            await asyncio.wait_for(
                self.layer.group_add(topic, self.channel), PROBE_TIMEOUT
            )
        for topic in list(self._stale):
            if topic not in self.topics:
                await asyncio.wait_for(
                    self.layer.group_discard(topic, self.channel), PROBE_TIMEOUT
                )
            self._stale.discard(topic)

    async def _recover(self) -> None:
        """Until the layer answers a round trip: (re)open the channel, re-join every group."""
        delay = 0.5
        while self.degraded:
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECOVER_MAX_DELAY)
            try:
                if self.channel is None:
                    await self._open_channel()
                await self._rejoin()
                await self._round_trip()
                # groups joined while the round trip ran are in self.topics: join them too
                await self._rejoin()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info(
                    "channel layer still down: %s", type(exc).__name__ or "timeout"
                )
                continue
            await self._set_degraded(False)

    async def check_layer(self) -> bool:
        """Whether the channel layer answers now (for /readyz)."""
        if not is_cluster():
            return True
        if self.running and self.layer is not None:
            return not self.degraded and self.channel is not None
        layer = get_channel_layer()
        try:
            await asyncio.wait_for(
                layer.group_send(self.probe_group, {"type": PROBE_TYPE}), 2.0
            )
        except Exception:
            return False
        return True


hub = Hub()
