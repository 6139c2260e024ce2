"""The channel layer the cluster runs on, checked against what the hub relies on."""

from __future__ import annotations

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
