"""The hub's subscriptions: a subscribe returns only once the topic's events arrive."""

from __future__ import annotations

import asyncio
from typing import Any

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
