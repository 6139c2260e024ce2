"""Measure cross-process delivery of the two channels-redis layers, the way the hub uses them.

One receiving process holds a process channel in a topic's group (as the hub does); one
sending process relays N events to that group one after another (the hub's send loop awaits
each group_send in publish order). Prints events per second delivered across the processes
and how many were lost. Usage (any Redis you may use; never a production one):

    .venv/bin/python tests/cluster/measure_layers.py redis://127.0.0.1:6379/0 [N]
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import sys
import time

LAYERS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}
FRAME = json.dumps(
    {
        "type": "message",
        "id": 1,
        "seq": 1,
        "room": "lobby",
        "body": "x" * 200,
        "user": {"id": 1, "username": "alice"},
        "ts": "2026-01-01T00:00:00Z",
        "client_id": None,
    }
)


def _layer(kind: str, url: str):
    from channels_redis.core import RedisChannelLayer
    from channels_redis.pubsub import RedisPubSubChannelLayer

    if kind == "core":
        return RedisChannelLayer(hosts=[url], capacity=100_000, expiry=60)
    return RedisPubSubChannelLayer(hosts=[url])


def _receiver(kind: str, url: str, group: str, n: int, ready, out) -> None:
    async def main() -> None:
        layer = _layer(kind, url)
        channel = await layer.new_channel(prefix="proc.measure.")
        await layer.group_add(group, channel)
        ready.set()
        got, first, last = 0, None, None
        deadline = time.monotonic() + 120
        while got < n and time.monotonic() < deadline:
            try:
                await asyncio.wait_for(layer.receive(channel), timeout=5)
            except TimeoutError:
                break
            got += 1
            last = time.monotonic()
            first = first or last
        out.put((got, (last or 0) - (first or 0)))

    asyncio.run(main())


def _sender(kind: str, url: str, group: str, n: int, out) -> None:
    async def main() -> None:
        layer = _layer(kind, url)
        started = time.monotonic()
        for i in range(n):
            await layer.group_send(
                group,
                {
                    "type": "hub.relay",
                    "topic": group,
                    "origin": "m",
                    "event": {"text": FRAME, "i": i},
                },
            )
        out.put(time.monotonic() - started)

    asyncio.run(main())


def measure(kind: str, url: str, n: int) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    group = f"measure.{kind}.{os.getpid()}"
    ready, out_r, out_s = ctx.Event(), ctx.Queue(), ctx.Queue()
    recv = ctx.Process(target=_receiver, args=(kind, url, group, n, ready, out_r))
    recv.start()
    ready.wait(30)
    send = ctx.Process(target=_sender, args=(kind, url, group, n, out_s))
    send.start()
    send_seconds = out_s.get(timeout=180)
    got, span = out_r.get(timeout=180)
    send.join(10)
    recv.join(10)
    return {
        "sent": n,
        "delivered": got,
        "lost": n - got,
        "send_rate": round(n / send_seconds),
        "delivery_rate": round(got / max(send_seconds, span, 1e-9)),
    }


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else "redis://127.0.0.1:6379/0"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    for kind in LAYERS:
        print(kind, measure(kind, url, n), flush=True)
