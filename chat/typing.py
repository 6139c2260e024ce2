"""Typing indicators: who is typing in a room, on every process, one frame a second at most.

Never stored, never given a seq, no database. A `typing` frame from a socket becomes a
`typing_hint` event on the room's topic, at most one per user and room per
FORWARD_SECONDS (a typing frame inside that window is held, and forwarded when it ends:
the trailing hint carries its age, so every process knows when the user last typed).
The hub hands hints, this process's own and the relayed ones, to this module through a
tap (once per event, not per socket; never to the sockets), and the room's `message`
events too: who sent their message stops typing at once.

Each process keeps, per room it holds sockets of, who typed when, and sends its own
sockets of the room one `typing` frame (encoded once for all of them) when that list
changes: a new typist, one whose message arrived, one quiet for TTL_SECONDS. At most one
per room per INTERVAL_SECONDS: a change inside the window goes out when it ends, as the
list is then (a change undone inside it sends nothing). Every typist is listed, the
socket's own user included (a client hides itself, as it knows its own id).

`TypingRooms` is the state, sans-I/O (the time in, frames and hints out), so every rule is
a unit test on a fake clock; `TypingCoalescer` is its shell on the serving loop: a
lifecycle part with one timer for the whole process, never a task per socket or room.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from chat.schemas import TYPING_MAX_USERS, typing_frame
from chat.topics import chat_room_group
from realtime.fanout.hub import Event, Hub, hub
from realtime.socket.frames import dumps

log = logging.getLogger("chat.typing")

#: the hub event kind of a hint between processes (never sent to a socket)
HINT_KIND = "typing_hint"
#: at most one typing frame per room per this many seconds (PROTOCOL.md 10)
INTERVAL_SECONDS = 1.0
#: a user is listed until this long after they last typed (PROTOCOL.md 10)
TTL_SECONDS = 5.0
#: at most one hint per user and room per this many seconds: a client sends `typing`
#: every 2 to 3 s while its user types, so most frames cross, and a flood does not
FORWARD_SECONDS = 2.0

#: a user object as frames carry it: {"id": int, "username": str}
User = dict[str, Any]


@dataclass(slots=True)
class _Own:
    """A user of this process typing in a room: when a hint last left, what waits."""

    forwarded: float
    user: User
    pending: float | None = None  # a typing frame held since (forwarded at window end)


@dataclass(slots=True)
class _Room:
    """One room's typists as this process knows them, and what its sockets were sent."""

    typists: dict[int, tuple[User, float]] = field(default_factory=dict)
    own: dict[int, _Own] = field(default_factory=dict)
    sent: tuple[int, ...] = ()  # the user ids of the last frame sent
    sent_at: float = -math.inf
    text: str | None = None  # that frame, encoded once
    changed: bool = False
    scheduled: float | None = None  # the earliest live entry of this room on the heap


class TypingRooms:
    """The typists of every room this process serves; see the module docstring.

    Every method takes the time (monotonic seconds); `due(now)` returns what to do then,
    `next_at()` when to call it next.
    """

    def __init__(
        self,
        *,
        interval: float = INTERVAL_SECONDS,
        ttl: float = TTL_SECONDS,
        forward_every: float = FORWARD_SECONDS,
        max_users: int = TYPING_MAX_USERS,
    ) -> None:
        self.interval = interval
        self.ttl = ttl
        self.forward_every = forward_every
        self.max_users = max_users
        self.rooms: dict[str, _Room] = {}
        # (when, topic): a room's next deadline; entries a sooner one replaced are stale
        self._heap: list[tuple[float, str]] = []

    # --- what happens ----------------------------------------------------------------------
    def typed(self, topic: str, user: User, now: float) -> bool:
        """A typing frame from a socket of this process: True to forward a hint now."""
        room = self.rooms.get(topic) or self.rooms.setdefault(topic, _Room())
        own = room.own.get(user["id"])
        if own is None or now >= own.forwarded + self.forward_every:
            room.own[user["id"]] = _Own(forwarded=now, user=user)
            self._schedule(topic, room, now + self.forward_every)
            return True
        own.pending, own.user = now, user
        self._schedule(topic, room, own.forwarded + self.forward_every)
        return False

    def hinted(self, topic: str, user: User, typed_at: float, now: float) -> None:
        """A hint (of any process, this one's included): `user` typed at `typed_at`."""
        if typed_at + self.ttl <= now:
            return
        room = self.rooms.get(topic)
        known = room.typists.get(user["id"]) if room is not None else None
        if known is not None:
            if typed_at > known[1]:  # later: its expiry moves (the list does not)
                room.typists[user["id"]] = (user, typed_at)  # type: ignore[union-attr]
            return
        if room is None:
            room = self.rooms[topic] = _Room()
        elif len(room.typists) >= self.max_users:
            return  # bounded: the room's first typists are listed, not every one
        room.typists[user["id"]] = (user, typed_at)
        self._changed(topic, room, now)

    def said(self, topic: str, user_id: int, now: float) -> None:
        """A message of `user_id` reached the room: they stopped typing."""
        room = self.rooms.get(topic)
        if room is None:
            return
        room.own.pop(user_id, None)  # typing again next forwards at once
        if room.typists.pop(user_id, None) is not None:
            self._changed(topic, room, now)

    def holds(self, topic: str) -> bool:
        """Whether anything is kept for this room (a message there may drop a typist)."""
        return topic in self.rooms

    def current(self, topic: str) -> str | None:
        """The room's last typing frame while it lists someone (for a socket that opens)."""
        room = self.rooms.get(topic)
        return room.text if room is not None and room.sent else None

    # --- the clock -------------------------------------------------------------------------
    def next_at(self) -> float | None:
        """When due() next has something to do; None when nothing is kept."""
        heap = self._heap
        while heap:
            when, topic = heap[0]
            room = self.rooms.get(topic)
            if room is not None and room.scheduled == when:
                return when
            heapq.heappop(heap)  # stale: replaced by a sooner deadline, or room gone
        return None

    def due(
        self, now: float
    ) -> tuple[list[tuple[str, str]], list[tuple[str, User, float]]]:
        """What is due at `now`: typing frames `(topic, text)` for this process's sockets,
        and hints `(topic, user, age)` to forward (held typing frames, `age` s old)."""
        frames: list[tuple[str, str]] = []
        hints: list[tuple[str, User, float]] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            when, topic = heapq.heappop(heap)
            room = self.rooms.get(topic)
            if room is None or room.scheduled != when:
                continue
            room.scheduled = None
            self._settle(topic, room, now, frames, hints)
        return frames, hints

    # --- inside ----------------------------------------------------------------------------
    def _changed(self, topic: str, room: _Room, now: float) -> None:
        room.changed = True
        self._schedule(topic, room, max(now, room.sent_at + self.interval))

    def _schedule(self, topic: str, room: _Room, when: float) -> None:
        if room.scheduled is None or when < room.scheduled:
            room.scheduled = when
            heapq.heappush(self._heap, (when, topic))

    def _settle(
        self,
        topic: str,
        room: _Room,
        now: float,
        frames: list[tuple[str, str]],
        hints: list[tuple[str, User, float]],
    ) -> None:
        """Do what is due for one room, then schedule its next deadline (or forget it)."""
        ttl, every = self.ttl, self.forward_every
        quiet = [uid for uid, (_, at) in room.typists.items() if at + ttl <= now]
        for uid in quiet:
            del room.typists[uid]
            room.changed = True
        for uid, own in list(room.own.items()):
            if now < own.forwarded + every:
                continue
            if own.pending is not None:
                hints.append((topic, own.user, now - own.pending))
                own.forwarded, own.pending = now, None
            else:
                del room.own[uid]
        if room.changed and now >= room.sent_at + self.interval:
            room.changed = False
            ids = tuple(room.typists)
            if ids != room.sent:
                users = [user for user, _ in room.typists.values()]
                room.text = dumps(typing_frame(users=users))
                room.sent, room.sent_at = ids, now
                frames.append((topic, room.text))
        deadlines = [at + ttl for _, at in room.typists.values()]
        deadlines += [own.forwarded + every for own in room.own.values()]
        if room.changed:
            deadlines.append(room.sent_at + self.interval)
        if deadlines:
            self._schedule(topic, room, min(deadlines))
        elif now < room.sent_at + self.interval:
            # Kept until its window ends: a typist coming back at once waits for it.
            self._schedule(topic, room, room.sent_at + self.interval)
        else:
            del self.rooms[topic]


class TypingCoalescer:
    """The process's typing indicators on the serving loop (a lifecycle part)."""

    name = "typing"

    def __init__(
        self, hub: Hub = hub, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.hub = hub
        self.clock = clock
        self.rooms = TypingRooms()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    async def start(self) -> None:
        """Tap the hub's hints and messages (after the hub started: it resets its taps)."""
        self.loop = asyncio.get_running_loop()
        self.rooms = TypingRooms()
        self.hub.tap(HINT_KIND, self._on_hint)
        self.hub.tap("message", self._on_message)

    async def stop(self) -> None:
        """Forget every room: typing is ephemeral, nothing to hand over."""
        self.hub.untap(HINT_KIND)
        self.hub.untap("message")
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, math.inf
        self.loop = None
        self.rooms = TypingRooms()

    # --- from the consumer (on the serving loop) ---------------------------------------------
    def typed(self, room_id: int, user: User) -> None:
        """`user` is typing in the room, says a socket of this process."""
        if self.loop is None:
            return  # not serving (a test without the lifecycle): nobody to tell
        topic = chat_room_group(room_id)
        if self.rooms.typed(topic, user, self.clock()):
            self._forward(topic, user, 0.0)
        self._arm()

    def current(self, room_id: int) -> str | None:
        """The typing frame a socket opening in the room gets, when someone types."""
        return self.rooms.current(chat_room_group(room_id))

    # --- the hub's taps -----------------------------------------------------------------------
    def _on_hint(self, topic: str, event: Event) -> bool:
        try:
            hint = orjson.loads(event.text or "")
            user = {"id": int(hint["user"]["id"]), "username": hint["user"]["username"]}
            age = min(max(float(hint["age"]), 0.0), self.rooms.ttl)
            if user["id"] < 1 or not isinstance(user["username"], str):
                raise ValueError("not a user")
        except (ValueError, TypeError, KeyError):
            log.warning("malformed typing hint dropped", extra={"topic": topic})
            return False
        now = self.clock()
        self.rooms.hinted(topic, user, now - age, now)
        self._arm()
        return False  # for this process's state only, never a socket's frame

    def _on_message(self, topic: str, event: Event) -> bool:
        if event.text is not None and self.rooms.holds(topic):
            try:
                user_id = int(orjson.loads(event.text)["user"]["id"])
            except (ValueError, TypeError, KeyError):
                return True
            self.rooms.said(topic, user_id, self.clock())
            self._arm()
        return True

    # --- the one timer --------------------------------------------------------------------------
    def _forward(self, topic: str, user: User, age: float) -> None:
        """A hint to every process holding the room, this one included (through its tap)."""
        text = dumps({"user": user, "age": round(age, 3)})
        self.hub.publish_nowait(topic, Event(text=text, kind=HINT_KIND))

    def _arm(self) -> None:
        """One timer, at the soonest deadline of every room (moved only to come sooner)."""
        when = self.rooms.next_at()
        if when is None or self.loop is None:
            return
        if self._timer is not None:
            if self._timer_at <= when:
                return
            self._timer.cancel()
        self._timer_at = when
        delay = max(0.0, when - self.clock())
        self._timer = self.loop.call_at(self.loop.time() + delay, self._fire)

    def _fire(self) -> None:
        self._timer, self._timer_at = None, math.inf
        try:
            frames, hints = self.rooms.due(self.clock())
            for topic, text in frames:
                self.hub.deliver_local(topic, Event(text=text, kind="typing"))
            for topic, user, age in hints:
                self._forward(topic, user, age)
        finally:
            self._arm()


coalescer = TypingCoalescer()
