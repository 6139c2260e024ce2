"""The process-local fan-out hub: every socket of this process, by topic.

Every socket subscribes to topics (a room, a user). A published event is encoded once
and handed to each local subscriber directly; in cluster mode the relay
(realtime.fanout.relay) carries it to the other processes as ONE channel-layer message
per topic and batch, never one per member. The hub is a part of the process lifecycle
(realtime.server.lifecycle): started with the server on its loop, stopped at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence

from realtime.fanout.events import Event, Subscriber
from realtime.fanout.relay import DEGRADED_BODY, Relay, probe_layer
from realtime.registry.process import PROCESS_ID, is_cluster
from realtime.web import metrics

log = logging.getLogger("realtime.hub")

__all__ = ["DEGRADED_BODY", "Event", "Hub", "Subscriber", "Tap", "hub"]

#: sees every event of one kind that reaches a topic held here (local or relayed), once
#: per event, not per socket; answers whether the topic's sockets get it too
Tap = Callable[[str, Event], bool]


class Hub:
    """One per serving process; see the module docstring."""

    name = "hub"

    def __init__(self) -> None:
        self.topics: dict[str, set[Subscriber]] = {}
        self.sockets: set[Subscriber] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.relay: Relay | None = None
        #: set by the drain: /readyz answers 503 and the gate refuses new sockets
        self.draining = False
        self._emptied: list[asyncio.Future[None]] = []
        #: topics whose group join (cluster mode) is under way, and its end
        self._joining: dict[str, asyncio.Future[None]] = {}
        #: event kind -> its tap (an app's per-process state fed by ephemeral events)
        self.taps: dict[str, Tap] = {}
        #: event kind -> its guard: before any tap, whether the event goes on at all
        #: (chat.repair drops a seq delivered here already)
        self.guards: dict[str, Tap] = {}
        #: drop()'s group leaves under way (held: a task nobody holds may be collected)
        self._leaving: set[asyncio.Task[None]] = set()

    # --- life (a lifecycle part) -----------------------------------------------------------
    @property
    def running(self) -> bool:
        """True once started, while its event loop lives."""
        return self.loop is not None and not self.loop.is_closed()

    @property
    def degraded(self) -> bool:
        """True while cross-process delivery is down (cluster mode only)."""
        return self.relay is not None and self.relay.degraded

    async def start(self) -> None:
        """Bind to the running loop; in cluster mode, start the relay."""
        self.loop = asyncio.get_running_loop()
        if is_cluster():
            self.relay = Relay(
                topics=self.topics,
                deliver=self.deliver_run,
                broadcast=self.broadcast_all,
            )
            await self.relay.start()
        log.info(
            "hub started", extra={"process_id": PROCESS_ID, "cluster": is_cluster()}
        )

    async def stop(self) -> None:
        """Stop the relay and forget every topic and socket (a fresh start may follow)."""
        if self.relay is not None:
            await self.relay.stop()
        self.__init__()  # type: ignore[misc]

    # --- sockets -----------------------------------------------------------------------------
    def add_socket(self, sock: Subscriber) -> None:
        """A socket of this process opened."""
        self.sockets.add(sock)

    def discard_socket(self, sock: Subscriber) -> None:
        """A socket of this process is gone; wakes wait_no_sockets() at the last one."""
        self.sockets.discard(sock)
        if not self.sockets and self._emptied:
            waiters, self._emptied = self._emptied, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def wait_no_sockets(self) -> None:
        """Wait until this process holds no socket (bound it with asyncio.timeout)."""
        if not self.sockets:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._emptied.append(waiter)
        await waiter

    # --- subscriptions ---------------------------------------------------------------------
    async def subscribe(self, topic: str, sub: Subscriber) -> None:
        """Deliver `topic`'s events to `sub`; the first local subscriber joins the group.

        Returns once the topic's events from every process reach `sub`: a later
        subscriber waits for the first one's group join too, since a handshake reads
        its history only after subscribing (each message in history or live).
        """
        subs = self.topics.get(topic)
        if subs is None:
            subs = self.topics[topic] = set()
            if self.relay is not None:
                joining = asyncio.get_running_loop().create_future()
                self._joining[topic] = joining
                try:
                    await self.relay.joined(topic)
                finally:
                    del self._joining[topic]
                    joining.set_result(None)
        elif topic in self._joining:
            await asyncio.shield(self._joining[topic])
        subs.add(sub)

    async def unsubscribe(self, topic: str, sub: Subscriber) -> None:
        """Undo subscribe(); the last local subscriber leaves the group."""
        subs = self.topics.get(topic)
        if not subs:
            return
        subs.discard(sub)
        if not subs:
            del self.topics[topic]
            if self.relay is not None:
                await self.relay.left(topic)

    def drop(self, topic: str, sub: Subscriber) -> None:
        """unsubscribe() for a sync caller: `sub` gets no event of `topic` from now on.

        The local part is done before this returns (a socket told to leave a topic
        mid-delivery takes nothing more of it); the group leave, when `sub` was the last
        local subscriber, follows as a task.
        """
        subs = self.topics.get(topic)
        if not subs or sub not in subs:
            return
        subs.discard(sub)
        if not subs:
            del self.topics[topic]
            if self.relay is not None and self.loop is not None:
                task = self.loop.create_task(self.relay.left(topic))
                self._leaving.add(task)
                task.add_done_callback(self._leaving.discard)

    def local_subscribers(self, topic: str) -> Iterable[Subscriber]:
        """The local sockets on `topic` (a copy, safe to iterate while they close)."""
        return tuple(self.topics.get(topic, ()))

    # --- taps ------------------------------------------------------------------------------
    def tap(self, kind: str, tap: Tap) -> None:
        """Let `tap` see every event of `kind` on the topics held here (one per kind).

        For process state an app keeps from events of every process (who is typing in a
        room): fed once per event, where a subscriber would be one more member of every
        room. A topic with no local socket is not held, so it costs nothing there.
        """
        if self.taps.get(kind, tap) != tap:  # a bound method is made anew each time
            raise ValueError(f"events of kind {kind!r} are tapped already")
        self.taps[kind] = tap

    def untap(self, kind: str) -> None:
        """Undo tap()."""
        self.taps.pop(kind, None)

    def guard(self, kind: str, guard: Tap) -> None:
        """Let `guard` decide, first, whether each event of `kind` on a topic held here
        is delivered at all (one per kind; called as a tap is)."""
        if self.guards.get(kind, guard) != guard:
            raise ValueError(f"events of kind {kind!r} are guarded already")
        self.guards[kind] = guard

    def unguard(self, kind: str) -> None:
        """Undo guard()."""
        self.guards.pop(kind, None)

    # --- publishing ------------------------------------------------------------------------
    def _admits(self, topic: str, event: Event) -> bool:
        """The kind's guard, then its tap: whether `event` goes on to the sockets."""
        guard = self.guards.get(event.kind)
        if guard is not None:
            try:
                if not guard(topic, event):
                    return False
            except Exception:
                # Dropped alone: the run's other events, which the guard may have
                # counted as delivered already, still go.
                log.exception("a guard failed: event dropped", extra={"topic": topic})
                return False
        tap = self.taps.get(event.kind)
        if tap is not None:
            try:
                if not tap(topic, event):
                    return False
            except Exception:
                log.exception("a tap failed", extra={"topic": topic})
        return True

    def deliver_local(self, topic: str, event: Event) -> int:
        """Hand `event` to every local subscriber of `topic`; returns how many."""
        subs = self.topics.get(topic)
        if not subs or not self._admits(topic, event):
            return 0
        return self._deliver_admitted(subs, topic, event)

    def _deliver_admitted(self, subs: set[Subscriber], topic: str, event: Event) -> int:
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

    def deliver_run(self, topic: str, events: Sequence[Event]) -> int:
        """deliver_local() for several events of one topic, in order; returns how many
        sockets took them.

        A run of frames (text, for every user: a group commit's messages into a room)
        reaches each socket in one call, so a socket whose transport takes it at once
        writes the run as one system call instead of one per frame: at saturation the
        writer's batches hold several messages, and the write was most of a member's
        cost. A run holding anything else (a close, one user's frame, an order) goes
        event by event, each to the sockets on the topic as the one before left them;
        a single event is deliver_local().
        """
        if len(events) == 1:
            return self.deliver_local(topic, events[0])
        subs = self.topics.get(topic)
        if not subs:
            return 0
        run = tuple(event for event in events if self._admits(topic, event))
        if len(run) < 2 or not all(
            event.text is not None
            and event.close_code is None
            and event.user_id is None
            and not event.order
            for event in run
        ):
            count = 0
            for event in run:
                subs = self.topics.get(topic)
                if subs:
                    count = max(count, self._deliver_admitted(subs, topic, event))
            return count
        started = time.perf_counter()
        count = 0
        for sub in tuple(subs):
            try:
                sub.deliver_frames(run)
                count += 1
            except Exception:
                log.exception("delivery to a socket failed", extra={"topic": topic})
        metrics.BROADCAST_SECONDS.observe(time.perf_counter() - started)
        return count

    def publish_nowait(self, topic: str, event: Event) -> None:
        """Deliver locally now and queue the cross-process relay (in the hub's loop)."""
        self.deliver_local(topic, event)
        if self.relay is not None:
            self.relay.relay(topic, event)

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
        """publish_nowait() of each pair, in order; consecutive events of one topic go
        to its sockets as one run (deliver_run)."""
        start, end = 0, len(batch)
        while start < end:
            topic = batch[start][0]
            stop = start + 1
            while stop < end and batch[stop][0] == topic:
                stop += 1
            self.deliver_run(topic, [event for _, event in batch[start:stop]])
            if self.relay is not None:
                for _, event in batch[start:stop]:
                    self.relay.relay(topic, event)
            start = stop

    def broadcast_all(self, event: Event) -> None:
        """Hand `event` to every local socket (degraded notice, drain)."""
        for sub in tuple(self.sockets):
            try:
                sub.deliver(event)
            except Exception:
                log.exception("delivery to a socket failed")

    async def check_layer(self) -> bool:
        """Whether cross-process delivery works now (for /readyz); True when embedded."""
        if not is_cluster():
            return True
        if self.running and self.relay is not None:
            return self.relay.layer_ok()
        return await probe_layer()


hub = Hub()
