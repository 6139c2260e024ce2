"""Many group joins (or leaves) of the channel layer as one Redis command per shard.

Every socket of a cluster process holds its user's topic, so a handshake is a group join
(a pub/sub SUBSCRIBE) and a close a leave. channels-redis subscribes one channel per
call, each a command of its own behind the shard's lock: in a reconnect storm, a tenth
of the surviving process's CPU went to SUBSCRIBEs alone. Redis takes many channels in
one SUBSCRIBE; `groups_add` and `groups_discard` use that with channels-redis's pub/sub
layer, doing to its bookkeeping exactly what its group_add and group_discard do
(channels-redis 4.3, pinned in requirements.txt; tests/cluster/test_layer.py runs it
against Redis), and fall back to one call per group with any other layer.
"""

from __future__ import annotations

from typing import Any


def _pubsub_layer(layer: Any) -> Any | None:
    """The running loop's channels-redis pub/sub layer behind `layer`, or None."""
    get = getattr(type(layer), "_get_layer", None)
    if get is None:
        return None
    inner = get(layer)
    needed = ("groups", "_get_group_channel_name", "_get_shard")
    return inner if all(hasattr(inner, name) for name in needed) else None


async def groups_add(layer: Any, groups: list[str], channel: str) -> None:
    """layer.group_add(group, channel) for every group, one SUBSCRIBE per shard."""
    inner = _pubsub_layer(layer)
    if inner is None:
        for group in groups:
            await layer.group_add(group, channel)
        return
    by_shard: dict[Any, list[str]] = {}
    for group in groups:
        name = inner._get_group_channel_name(group)
        inner.groups.setdefault(name, set()).add(channel)
        by_shard.setdefault(inner._get_shard(name), []).append(name)
    for shard, names in by_shard.items():
        async with shard._lock:
            new = list(dict.fromkeys(n for n in names if n not in shard._subscribed_to))
            if new:
                shard._ensure_redis()
                shard._ensure_receiver()
                await shard._pubsub.subscribe(*new)
                shard._subscribed_to.update(new)


async def groups_discard(layer: Any, groups: list[str], channel: str) -> None:
    """layer.group_discard(group, channel) for every group, one UNSUBSCRIBE per shard."""
    inner = _pubsub_layer(layer)
    if inner is None:
        for group in groups:
            await layer.group_discard(group, channel)
        return
    by_shard: dict[Any, list[str]] = {}
    for group in groups:
        name = inner._get_group_channel_name(group)
        members = inner.groups.get(name)
        if members is None or channel not in members:
            continue
        if members == {channel}:  # the last: forgotten once its shard unsubscribed
            by_shard.setdefault(inner._get_shard(name), []).append(name)
        else:
            members.discard(channel)
    for shard, names in by_shard.items():
        async with shard._lock:
            gone = list(dict.fromkeys(n for n in names if n in shard._subscribed_to))
            if gone:
                shard._ensure_redis()
                shard._ensure_receiver()
                await shard._pubsub.unsubscribe(*gone)
                shard._subscribed_to.difference_update(gone)
        # Only now: if a shard fails first, the groups of the shards after it are still
        # held, and a retry (group_discard) leaves them.
        for name in names:
            inner.groups.pop(name, None)
