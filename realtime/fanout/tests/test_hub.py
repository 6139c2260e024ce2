"""The hub's subscriptions: a subscribe returns only once the topic's events arrive."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from realtime.fanout.events import Event
from realtime.fanout.hub import Hub


class SlowRelay:
    """A relay whose group join (a Redis round trip) waits until it is let go."""

    degraded = False

    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.joins: list[str] = []

    async def joined(self, topic: str) -> None:
        self.joins.append(topic)
        await self.go.wait()


async def test_a_second_subscriber_waits_for_the_first_ones_group_join():
    # Cluster mode: the second socket of a room reads its history only after subscribing;
    # returning before the group join would let a message from another process fall
    # between its history and its live frames.
    hub, relay = Hub(), SlowRelay()
    hub.relay = relay  # type: ignore[assignment]
    first: Any = object()
    second: Any = object()
    one = asyncio.create_task(hub.subscribe("room.1", first))
    await asyncio.sleep(0)
    two = asyncio.create_task(hub.subscribe("room.1", second))
    await asyncio.sleep(0.01)
    assert not one.done() and not two.done()
    relay.go.set()
    await asyncio.gather(one, two)
    assert relay.joins == ["room.1"]  # one join for the process
    assert set(hub.local_subscribers("room.1")) == {first, second}


async def test_a_failed_join_still_lets_the_waiting_subscribers_on():
    class BrokenRelay(SlowRelay):
        async def joined(self, topic: str) -> None:
            await self.go.wait()
            raise ConnectionError("redis is gone")

    hub, relay = Hub(), BrokenRelay()
    hub.relay = relay  # type: ignore[assignment]
    one = asyncio.create_task(hub.subscribe("room.1", object()))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    two = asyncio.create_task(hub.subscribe("room.1", object()))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    relay.go.set()
    results = await asyncio.gather(one, two, return_exceptions=True)
    assert isinstance(results[0], ConnectionError) and results[1] is None


class Member:
    def __init__(self) -> None:
        self.kinds: list[str] = []
        self.calls: list[tuple[str, ...]] = []  # the kinds of each call, in order

    def deliver(self, event: Any) -> None:
        self.kinds.append(event.kind)
        self.calls.append((event.kind,))

    def deliver_frames(self, run: Any) -> None:
        self.kinds.extend(event.kind for event in run)
        self.calls.append(tuple(event.kind for event in run))


class Relayed:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def joined(self, topic: str) -> None:
        pass

    def relay(self, topic: str, event: Any) -> None:
        self.sent.append((topic, event.kind))


async def test_a_batchs_consecutive_frames_of_one_topic_reach_each_socket_as_one_run():
    hub, room, user = Hub(), Member(), Member()
    hub.relay = Relayed()  # type: ignore[assignment]
    await hub.subscribe("room.1", room)  # type: ignore[arg-type]
    await hub.subscribe("user.1", user)  # type: ignore[arg-type]
    hub.loop = asyncio.get_running_loop()  # a service's batch, published on the loop
    hub.publish_threadsafe(
        [
            ("room.1", Event(text="{}", kind="m1")),
            ("room.1", Event(text="{}", kind="m2")),
            ("user.1", Event(text="{}", kind="read")),
            ("room.1", Event(text="{}", kind="m3")),
        ]
    )
    assert room.calls == [("m1", "m2"), ("m3",)]
    assert user.calls == [("read",)]
    # Every event still goes to the other processes, each once, in order.
    assert hub.relay.sent == [  # type: ignore[union-attr]
        ("room.1", "m1"),
        ("room.1", "m2"),
        ("user.1", "read"),
        ("room.1", "m3"),
    ]


async def test_a_run_holding_a_close_or_one_users_frame_goes_event_by_event():
    hub, member = Hub(), Member()
    await hub.subscribe("user.1", member)  # type: ignore[arg-type]
    hub.deliver_run(
        "user.1",
        [
            Event(text="{}", kind="a"),
            Event(close_code=4401, kind="close"),
            Event(text="{}", kind="b", user_id=7),
        ],
    )
    assert member.calls == [("a",), ("close",), ("b",)]


async def test_a_run_passes_each_event_through_its_kinds_guard_and_tap():
    hub, member = Hub(), Member()
    await hub.subscribe("room.1", member)  # type: ignore[arg-type]
    hub.guard("m", lambda topic, event: event.seq != 2)
    hub.tap("hint", lambda topic, event: False)
    events = [Event(text="{}", kind="m", seq=n) for n in (1, 2, 3)]
    assert hub.deliver_run("room.1", [*events, Event(text="{}", kind="hint")]) == 1
    assert member.calls == [("m", "m")]


async def test_a_tap_sees_each_event_of_its_kind_once_and_decides_if_sockets_get_it():
    hub, seen = Hub(), []
    members = [Member(), Member()]
    for member in members:
        await hub.subscribe("room.1", member)  # type: ignore[arg-type]
    hub.tap("hint", lambda topic, event: seen.append((topic, event.kind)) or False)
    hub.tap("message", lambda topic, event: seen.append((topic, event.kind)) or True)
    hub.publish_nowait("room.1", Event(text="{}", kind="hint"))
    hub.publish_nowait("room.1", Event(text="{}", kind="message"))
    hub.publish_nowait("room.2", Event(text="{}", kind="hint"))  # no socket here
    assert seen == [("room.1", "hint"), ("room.1", "message")]  # once, not per socket
    assert [m.kinds for m in members] == [["message"], ["message"]]


async def test_a_failing_tap_leaves_delivery_to_the_sockets():
    def broken(topic: str, event: Any) -> bool:
        raise RuntimeError("bug")

    hub, member = Hub(), Member()
    await hub.subscribe("room.1", member)  # type: ignore[arg-type]
    hub.tap("message", broken)
    hub.publish_nowait("room.1", Event(text="{}", kind="message"))
    assert member.kinds == ["message"]


def test_a_kind_has_one_tap():
    hub = Hub()
    hub.tap("hint", print)
    hub.tap("hint", print)  # the same again: no error
    with pytest.raises(ValueError):
        hub.tap("hint", repr)
    hub.untap("hint")
    hub.tap("hint", repr)


async def test_a_guard_that_fails_drops_its_event_alone_not_the_rest_of_the_run():
    hub, member = Hub(), Member()
    await hub.subscribe("room.1", member)  # type: ignore[arg-type]

    def guard(topic: str, event: Any) -> bool:
        if event.seq == 2:
            raise TypeError("a malformed seq from a peer")
        return True

    hub.guard("m", guard)
    events = [Event(text="{}", kind="m", seq=n) for n in (1, 2, 3)]
    assert hub.deliver_run("room.1", events) == 1
    assert member.calls == [("m", "m")]
