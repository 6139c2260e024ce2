"""The channel layer the cluster runs on, checked against what the hub relies on."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests import harness

pytestmark = [pytest.mark.cluster]

_BURST = """
import asyncio, collections, json
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.conf import settings

async def burst(layer):
    channel = await layer.new_channel(prefix="burst.")
    await layer.group_add("burst", channel)
    errors = collections.Counter()
    async def one(i):
        try:
            await layer.group_send("burst", {"type": "x", "i": i})
        except Exception as exc:
            errors[type(exc).__name__] += 1
    await asyncio.gather(*(one(i) for i in range(2000)))
    return dict(errors)

async def main():
    configured = get_channel_layer()
    core = RedisChannelLayer(hosts=[settings.REDIS_URL])
    print(json.dumps({
        "backend": type(configured).__name__,
        "configured": await burst(configured),
        "core": await burst(core),
    }))

asyncio.run(main())
"""


def test_a_burst_of_concurrent_group_sends_never_raises(own_redis):
    # channels-redis 4.3 on redis-py 8.1 raises MaxConnectionsError here (core layer)
    # instead of waiting for a connection: requirements.txt pins the client that waits.
    env = harness.base_env(REDIS_URL=own_redis.url)
    out = harness.manage(env, "shell", "-c", _BURST)
    result = json.loads(next(x for x in out.splitlines() if x.startswith('{"backend"')))
    assert result["backend"] == "RedisPubSubChannelLayer"
    assert result["configured"] == {}
    assert result["core"] == {}


async def test_many_joins_and_leaves_as_one_command_deliver_as_one_at_a_time(
    redis_server,
):
    # realtime.fanout.layer reaches into channels-redis's pub/sub bookkeeping: after
    # groups_add and groups_discard, the layer must hold and deliver exactly what
    # group_add and group_discard one by one would have left it with.
    from channels_redis.pubsub import RedisPubSubChannelLayer

    from realtime.fanout.layer import groups_add, groups_discard

    layer = RedisPubSubChannelLayer(hosts=[redis_server.url], prefix="layer-test")
    try:
        channel = await layer.new_channel(prefix="proc.")
        groups = [f"g{i}" for i in range(50)]
        await groups_add(layer, [*groups, "g0"], channel)
        for group in groups:
            await layer.group_send(group, {"type": "x", "group": group})
        got = [await asyncio.wait_for(layer.receive(channel), 5) for _ in groups]
        assert sorted(m["group"] for m in got) == sorted(groups)

        await groups_discard(layer, groups[:25], channel)
        inner = layer._get_layer()
        assert set(inner.groups) == {
            inner._get_group_channel_name(g) for g in groups[25:]
        }
        subscribed = set().union(*(s._subscribed_to for s in inner._shards))
        assert subscribed == set(inner.groups) | {channel}  # its own channel too
        for group in groups:
            await layer.group_send(group, {"type": "x", "group": group})
        got = [await asyncio.wait_for(layer.receive(channel), 5) for _ in groups[25:]]
        assert sorted(m["group"] for m in got) == sorted(groups[25:])
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(layer.receive(channel), 0.3)
    finally:
        await layer.flush()
