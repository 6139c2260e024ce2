"""The relay's group joins and leaves: batched while one is under way, in the order asked."""

from __future__ import annotations

import asyncio
from typing import Any

from realtime.fanout.relay import Relay


class SlowLayer:
    """A channel layer whose every call takes a moment, recording the calls in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail = False

    async def group_add(self, group: str, channel: str) -> None:
        await asyncio.sleep(0.01)
        if self.fail:
            raise ConnectionError("down")
        self.calls.append(("add", group))

    async def group_discard(self, group: str, channel: str) -> None:
        await asyncio.sleep(0.01)
        self.calls.append(("discard", group))


def relay_on(layer: Any) -> Relay:
    relay = Relay(topics={}, deliver=lambda topic, events: 0, broadcast=lambda e: None)
    relay.layer, relay.channel = layer, "proc.test"
    return relay


async def test_joins_and_leaves_asked_meanwhile_go_together_in_the_order_asked():
    layer = SlowLayer()
    relay = relay_on(layer)
    first = asyncio.create_task(relay.joined("t0"))
    await asyncio.sleep(0)  # t0's batch is under way
    rest = [relay.joined("t1"), relay.left("t0"), relay.joined("t2"), relay.left("t1")]
    await asyncio.gather(first, *rest)
    assert layer.calls == [
        ("add", "t0"),
        ("add", "t1"),
        ("discard", "t0"),
        ("add", "t2"),
        ("discard", "t1"),
    ]
    assert not relay.degraded


async def test_a_failed_batch_fails_each_of_its_callers_and_a_caller_gone_spares_it():
    layer = SlowLayer()
    relay = relay_on(layer)
    layer.fail = True
    gone = asyncio.create_task(relay.joined("t0"))
    waiting = asyncio.create_task(relay.joined("t1"))
    await asyncio.sleep(0)
    gone.cancel()  # a handshake given up on: the batch goes on for the others
    await waiting
    assert relay.degraded  # the failure reached the caller that stayed
    relay.degraded = False
    layer.fail = False
    await relay.joined("t2")
    assert layer.calls == [("add", "t2")]
    for task in relay._tasks:
        task.cancel()
