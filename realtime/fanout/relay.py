"""The relay between processes: one channel-layer message per topic per batch.

The hub delivers to its own sockets at once and hands every event to the relay, which
sends it on to the other processes of the cluster (channels-redis pub/sub): the process
channel joins a topic's group while any local socket wants it, so a room costs one layer
message per process and batch, never one per member. When the layer fails, local
delivery goes on and the relay says so (degraded mode, PROTOCOL.md section 6), probing
until the layer answers a round trip again, then re-joining every group held here.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from channels.layers import get_channel_layer

from realtime.fanout.events import Event
from realtime.fanout.layer import groups_add, groups_discard
from realtime.registry.process import PROCESS_ID
from realtime.socket.frames import system_frame
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
RELAY_QUEUE_MAX = 100_000


def _retrieved(future: asyncio.Future[None]) -> None:
    """Mark a batch's failure as seen: its callers may all have gone meanwhile."""
    if not future.cancelled():
        future.exception()


def probe_group() -> str:
    """This process's own probe group (a round trip through it proves the layer)."""
    return "hub.probe." + re.sub(r"[^a-zA-Z0-9_.-]", "-", PROCESS_ID)[:80]


class Relay:
    """The cross-process half of the hub (cluster mode only); see the module docstring.

    `topics` is the hub's own map (the topics held here), `deliver` its local delivery
    of one topic's events (Hub.deliver_run) and `broadcast` its hand to every local
    socket (the degraded notices).
    """

    def __init__(
        self,
        *,
        topics: dict[str, Any],
        deliver: Callable[[str, Sequence[Event]], int],
        broadcast: Callable[[Event], None],
    ) -> None:
        self.topics = topics
        self.deliver = deliver
        self.broadcast_all = broadcast
        self.layer: Any = None
        self.channel: str | None = None
        self.degraded = False
        self.probe_group = probe_group()
        self._probes: dict[str, asyncio.Future[bool]] = {}
        # topics left while degraded, to leave on recovery
        self._stale: set[str] = set()
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # joins (True) and leaves asked while a batch of them is under way, and the
        # future of their batch (see _membership)
        self._asked: list[tuple[bool, str]] = []
        self._next: asyncio.Future[None] | None = None
        self._memberships: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the process channel, join the groups, start the relay loops."""
        loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(maxsize=RELAY_QUEUE_MAX)
        self.layer = get_channel_layer()
        metrics.CHANNEL_LAYER_UP.set(1)
        metrics.DEGRADED.set(0)
        try:
            await self._open_channel()
            await self._rejoin()
        except Exception as exc:
            # Serve anyway: local delivery works, the recovery loop joins later.
            log.error("channel layer unreachable at start: %s", type(exc).__name__)
            await self._set_degraded(True)
        for loop_fn in (self._receive_loop, self._send_loop, self._probe_loop):
            self._tasks.append(loop.create_task(loop_fn()))

    async def stop(self) -> None:
        """Stop the relay loops (the layer's connections close with the process)."""
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()

    # --- the hub's calls ---------------------------------------------------------------------
    def relay(self, topic: str, event: Event) -> None:
        """Queue `event` for the other processes (called on the hub's loop)."""
        if self._queue is None:
            return
        try:
            self._queue.put_nowait((topic, event.to_wire()))
        except asyncio.QueueFull:
            metrics.child(metrics.FRAMES_DROPPED, "relay_queue_full").inc()
            log.error("relay queue full; event not relayed", extra={"topic": topic})

    async def joined(self, topic: str) -> None:
        """The first local socket took `topic`: join its group."""
        self._stale.discard(topic)
        if self.layer is not None and not self.degraded and self.channel is not None:
            # While degraded the recovery loop joins every topic held here.
            await self._layer_call(self._membership(True, topic))

    async def left(self, topic: str) -> None:
        """The last local socket left `topic`: leave its group."""
        if self.layer is None or self.channel is None:
            return
        if self.degraded:
            self._stale.add(topic)
        elif not await self._layer_call(self._membership(False, topic)):
            self._stale.add(topic)

    async def _membership(self, join: bool, topic: str) -> None:
        """Join or leave `topic`'s group, with every join and leave asked meanwhile.

        As the door does with handshakes, after one turn of the loop: those asked in
        that turn go together, those that come while it is under way wait for it and
        go next, together, in the order asked (a leave never overtakes the join before
        it); a run of joins is one SUBSCRIBE per Redis shard (realtime.fanout.layer).
        Each caller gets its batch's outcome.
        """
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
            self._next.add_done_callback(_retrieved)
        done = self._next
        self._asked.append((join, topic))
        if self._memberships is None or self._memberships.done():
            self._memberships = asyncio.get_running_loop().create_task(
                self._change_memberships()
            )
        # Shielded: a handshake given up on must not cancel the others' batch.
        await asyncio.shield(done)

    async def _change_memberships(self) -> None:
        # One turn of the loop first: the handshakes it runs ask for their joins too,
        # and go in this batch (one SUBSCRIBE) rather than one at a time.
        await asyncio.sleep(0)
        while self._asked:
            asked, done = self._asked, self._next
            self._asked, self._next = [], None
            assert done is not None
            try:
                # Bounded here, not by each caller's _layer_call: a command that hangs
                # holds the shard's lock, which every publish needs too.
                async with asyncio.timeout(LAYER_TIMEOUT):
                    start = 0
                    for end in range(1, len(asked) + 1):  # runs of joins, of leaves
                        if end == len(asked) or asked[end][0] != asked[start][0]:
                            change = groups_add if asked[start][0] else groups_discard
                            topics = [topic for _, topic in asked[start:end]]
                            await change(self.layer, topics, self.channel)
                            start = end
            except BaseException as exc:  # cancelled too: the callers must not hang
                done.set_exception(
                    exc if isinstance(exc, Exception) else ConnectionError("stopped")
                )
                if not isinstance(exc, Exception):
                    raise
            else:
                done.set_result(None)

    # --- the cross-process relay -------------------------------------------------------------
    async def _send_loop(self) -> None:
        """Relay queued events in publish order: per topic, one group message per batch.

        Under a burst the queue holds several events; they leave as one layer message per
        topic (order kept), so a busy room costs one round trip per batch, not per event.
        While the layer is down events are dropped at once (the database holds them; other
        processes' clients backfill by seq), so a dead Redis never delays anything.
        """
        assert self._queue is not None
        queue = self._queue
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
                metrics.child(metrics.FRAMES_DROPPED, "layer_down").inc(len(batch))
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
                    metrics.child(metrics.FRAMES_DROPPED, "layer_down").inc(len(wires))

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
        events = [Event.from_wire(w) for w in wires or () if isinstance(w, dict)]
        if events:
            self.deliver(topic, events)

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

    def layer_ok(self) -> bool:
        """Whether cross-process delivery works now (for /readyz)."""
        return not self.degraded and self.channel is not None


async def probe_layer() -> bool:
    """Whether the configured channel layer takes a message now (no relay running)."""
    try:
        await asyncio.wait_for(
            get_channel_layer().group_send(probe_group(), {"type": PROBE_TYPE}), 2.0
        )
    except Exception:
        return False
    return True
