"""Typing indicators (chat.typing): the per-room rules on a fake clock, then the shell
with two hubs wired like two processes of a cluster."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.schemas import TypingOut
from chat.typing import HINT_KIND, TypingCoalescer, TypingRooms
from realtime.fanout.hub import Event, Hub
from realtime.socket.frames import dumps

ROOM = "chat.room.1"


def user(n: int) -> dict[str, Any]:
    return {"id": n, "username": f"u{n}"}


def listed(text: str) -> list[int]:
    """The user ids of a typing frame (checked against its schema on the way)."""
    frame = TypingOut.model_validate_json(text)
    return [u.id for u in frame.users]


def step(rooms: TypingRooms, now: float) -> list[list[int]]:
    frames, _ = rooms.due(now)
    assert all(topic == ROOM for topic, _ in frames)
    return [listed(text) for _, text in frames]


# --- the rules, on a fake clock ----------------------------------------------------------------


def test_fifty_typists_in_one_room_get_at_most_one_frame_a_second():
    rooms, rng = TypingRooms(), random.Random(16)
    sent: list[tuple[float, list[int]]] = []
    now = 0.0
    while now < 20.0:
        for n in range(1, 51):
            if now < 12.0 and rng.random() < 0.02:  # each types about once a second
                rooms.hinted(ROOM, user(n), now, now)
        sent += [(now, users) for users in step(rooms, now)]
        now = round(now + 0.01, 2)
    times = [t for t, _ in sent]
    assert len(times) >= 5
    assert all(b - a >= 1.0 for a, b in zip(times, times[1:], strict=False))
    assert max(len(users) for _, users in sent) == 50
    assert sent[-1][1] == []  # everyone went quiet: the last frame lists no one
    assert rooms.rooms == {} and rooms.next_at() is None  # and nothing is kept


def test_a_typist_quiet_for_five_seconds_is_dropped_with_a_frame():
    rooms = TypingRooms()
    rooms.hinted(ROOM, user(1), 0.0, 0.0)
    assert step(rooms, 0.0) == [[1]]
    rooms.hinted(ROOM, user(1), 2.0, 2.0)  # typed again: listed 5 s from then
    assert step(rooms, 6.9) == []
    assert rooms.next_at() == 7.0
    assert step(rooms, 7.0) == [[]]


def test_a_message_drops_its_typist_at_once_but_within_the_rate():
    rooms = TypingRooms()
    rooms.hinted(ROOM, user(1), 0.0, 0.0)
    rooms.hinted(ROOM, user(2), 0.0, 0.0)
    assert step(rooms, 0.0) == [[1, 2]]
    rooms.said(ROOM, 2, 0.3)
    assert step(rooms, 0.3) == []  # one frame a second: it waits for the window's end
    assert rooms.next_at() == 1.0
    assert step(rooms, 1.0) == [[1]]
    rooms.said(ROOM, 1, 2.5)  # outside the window: at once
    assert step(rooms, 2.5) == [[]]


def test_no_frame_when_the_list_did_not_change():
    rooms = TypingRooms()
    rooms.hinted(ROOM, user(1), 0.0, 0.0)
    assert step(rooms, 0.0) == [[1]]
    for t in (0.5, 1.5, 2.5, 3.5):  # still typing: the same list
        rooms.hinted(ROOM, user(1), t, t)
        assert step(rooms, t) == []
    rooms.hinted(ROOM, user(2), 4.0, 4.0)  # came and went inside one window
    rooms.said(ROOM, 2, 4.2)
    assert step(rooms, 5.0) == []
    rooms.said(ROOM, 3, 5.0)  # someone never listed
    assert step(rooms, 5.5) == []


def test_a_late_hint_or_a_message_from_a_room_never_seen_changes_nothing():
    rooms = TypingRooms()
    rooms.hinted(ROOM, user(1), 0.0, 5.0)  # typed 5 s before it arrived
    rooms.said("chat.room.2", 1, 5.0)
    assert rooms.rooms == {} and rooms.next_at() is None


def test_a_room_lists_at_most_100_typists():
    rooms = TypingRooms()
    for n in range(1, 151):
        rooms.hinted(ROOM, user(n), 0.0, 0.0)
    assert step(rooms, 0.0) == [list(range(1, 101))]


def test_a_user_returning_right_after_the_list_emptied_waits_for_the_window():
    rooms = TypingRooms()
    rooms.hinted(ROOM, user(1), 0.0, 0.0)
    assert step(rooms, 0.0) == [[1]]
    rooms.said(ROOM, 1, 1.0)
    assert step(rooms, 1.0) == [[]]
    rooms.hinted(ROOM, user(1), 1.2, 1.2)
    assert step(rooms, 1.2) == []
    assert step(rooms, 2.0) == [[1]]


def test_a_typist_is_forwarded_at_most_every_two_seconds_and_the_last_frame_with_its_age():
    rooms = TypingRooms()
    me = user(7)
    assert rooms.typed(ROOM, me, 0.0) is True
    assert rooms.typed(ROOM, me, 0.5) is False
    assert rooms.typed(ROOM, me, 1.9) is False
    assert rooms.due(1.99)[1] == []
    _, hints = rooms.due(2.0)
    assert [(t, u, round(age, 3)) for t, u, age in hints] == [(ROOM, me, 0.1)]
    assert rooms.typed(ROOM, me, 2.5) is False  # inside the new window
    _, hints = rooms.due(4.0)
    assert [round(age, 3) for _, _, age in hints] == [1.5]
    assert rooms.due(6.0)[1] == []  # nothing held: nothing forwarded
    assert rooms.typed(ROOM, me, 6.1) is True


def test_a_message_lets_the_next_typing_frame_forward_at_once():
    rooms = TypingRooms()
    assert rooms.typed(ROOM, user(7), 0.0) is True
    rooms.said(ROOM, 7, 0.5)
    assert rooms.typed(ROOM, user(7), 0.6) is True


# Integer time (tenths of a second): interval 10, ttl 50, at most 3 listed of 5 users.
EVENTS = st.lists(
    st.tuples(
        st.integers(0, 30),  # time since the previous event
        st.sampled_from(["hint", "said"]),
        st.integers(1, 5),  # the user
        st.integers(0, 60),  # how long ago the hint says they typed (late past 50)
    ),
    max_size=60,
)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(EVENTS)
def test_every_frame_is_the_true_list_sent_as_soon_as_the_rate_allows(events):
    """Against a model of who typed when: each frame lists exactly who typed in the last
    ttl in the order they started, frames are an interval apart and never repeat, and
    a changed list waits for nothing but the interval. Driven like the shell: due() at
    every deadline next_at() names, and after every event."""
    rooms = TypingRooms(interval=10, ttl=50, max_users=3)
    model: dict[int, int] = {}  # user -> typed at, in the order they started
    sent: list[tuple[int, list[int]]] = []

    def alive(now: int) -> list[int]:
        return [uid for uid, at in model.items() if at + 50 > now]

    def run(now: int) -> None:
        for text in (text for _, text in rooms.due(now)[0]):
            users = listed(text)
            assert users == alive(now)
            assert not sent or (now - sent[-1][0] >= 10 and users != sent[-1][1])
            sent.append((now, users))
        last_at, last = sent[-1] if sent else (-(10**9), [])
        assert alive(now) == last or now < last_at + 10, "a change was held back"

    def until(now: int) -> None:
        while (when := rooms.next_at()) is not None and when <= now:
            run(when)  # type: ignore[arg-type]

    now = 0
    for gap, op, uid, age in events:
        now += gap
        until(now)
        if op == "said":
            rooms.said(ROOM, uid, now)
            model.pop(uid, None)
        else:
            at = now - age
            if at + 50 <= now:
                pass  # arrived too late: changes nothing
            elif uid in alive(now):
                model[uid] = max(model[uid], at)
            elif len(alive(now)) < 3:
                model.pop(uid, None)
                model[uid] = at
            rooms.hinted(ROOM, user(uid), at, now)
        run(now)
    until(10**9)
    assert alive(10**9) == [] and (not sent or sent[-1][1] == [])
    assert rooms.rooms == {} and rooms.next_at() is None


# --- the shell: two hubs as two processes ------------------------------------------------------


class Wire:
    """The relay of one hub: what it publishes reaches the other hub's topics."""

    degraded = False

    def __init__(self) -> None:
        self.to: Hub | None = None
        self.kinds: list[str] = []

    async def joined(self, topic: str) -> None: ...

    async def left(self, topic: str) -> None: ...

    def relay(self, topic: str, event: Event) -> None:
        self.kinds.append(event.kind)
        assert self.to is not None
        self.to.deliver_local(topic, Event.from_wire(event.to_wire()))


class Socket:
    """A local subscriber that keeps the frames a chat socket would forward."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()

    def deliver(self, event: Event) -> None:
        if event.text is not None and event.kind != HINT_KIND:
            self.frames.append(orjson.loads(event.text))
            self.arrived.set()

    async def next_typing(self) -> list[int]:
        while True:
            for i, frame in enumerate(self.frames):
                if frame["type"] == "typing":
                    del self.frames[: i + 1]
                    return [u["id"] for u in frame["users"]]
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 5.0)


async def two_processes() -> tuple[list[Hub], list[TypingCoalescer], list[Wire]]:
    hubs, wires = [Hub(), Hub()], [Wire(), Wire()]
    for i, (hub, wire) in enumerate(zip(hubs, wires, strict=True)):
        hub.relay = wire  # type: ignore[assignment]
        wire.to = hubs[1 - i]
    coalescers = [TypingCoalescer(hub) for hub in hubs]
    for c in coalescers:
        await c.start()
        c.rooms = TypingRooms(interval=0.05, ttl=0.4, forward_every=0.1)
    return hubs, coalescers, wires


async def test_a_typist_on_one_process_is_listed_on_the_other_and_a_message_clears_it():
    (hub_a, hub_b), (typing_a, typing_b), (wire_a, _) = await two_processes()
    alice_socket, bob_socket = Socket(), Socket()
    await hub_a.subscribe(ROOM, alice_socket)
    await hub_b.subscribe(ROOM, bob_socket)
    try:
        for _ in range(20):  # a flood of typing frames: one hint crosses
            typing_a.typed(1, user(1))
        assert await bob_socket.next_typing() == [1]
        assert await alice_socket.next_typing() == [1]  # the typist's own too
        assert wire_a.kinds[0] == HINT_KIND and len(wire_a.kinds) <= 2
        assert bob_socket.frames == []  # no hint ever reaches a socket
        message = {"type": "message", "user": user(1), "seq": 1, "body": "hi"}
        hub_a.publish_nowait(ROOM, Event(text=dumps(message), kind="message", seq=1))
        assert await bob_socket.next_typing() == []
        assert await alice_socket.next_typing() == []
    finally:
        await typing_a.stop()
        await typing_b.stop()


async def test_a_quiet_typist_expires_on_every_process_and_nothing_is_kept():
    (hub_a, hub_b), (typing_a, typing_b), _ = await two_processes()
    bob_socket = Socket()
    await hub_a.subscribe(ROOM, Socket())
    await hub_b.subscribe(ROOM, bob_socket)
    try:
        typing_a.typed(1, user(1))
        assert await bob_socket.next_typing() == [1]
        assert await bob_socket.next_typing() == []  # 0.4 s later
        await asyncio.sleep(0.2)  # past the rate window and the forward window
        assert typing_a.rooms.rooms == {} and typing_b.rooms.rooms == {}
        assert typing_b._timer is None
    finally:
        await typing_a.stop()
        await typing_b.stop()


async def test_a_process_holding_no_socket_of_the_room_keeps_nothing_of_it():
    (hub_a, _), (typing_a, typing_b), _ = await two_processes()
    await hub_a.subscribe(ROOM, Socket())
    try:
        typing_a.typed(1, user(1))
        assert ROOM in typing_a.rooms.rooms and typing_b.rooms.rooms == {}
    finally:
        await typing_a.stop()
        await typing_b.stop()
