"""The one way events leave a service: after commit, to a topic, cluster-wide.

Choosing the topic (who receives) is the caller's job and is security-critical.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from realtime.fanout.events import Event
from realtime.fanout.hub import hub
from realtime.fanout.relay import LAYER_TIMEOUT, RELAY_TYPE
from realtime.registry.process import is_cluster
from realtime.socket.frames import dumps

log = logging.getLogger("realtime.broadcast")


def publish(topic: str, frame: Mapping[str, Any]) -> None:
    """Send `frame` to every socket on `topic` once the current transaction commits."""
    event = Event(text=dumps(frame), kind=str(frame.get("type", "")))
    transaction.on_commit(lambda: dispatch(topic, event))


def publish_many(
    items: Iterable[tuple[str, str] | tuple[str, str, int]], *, kind: str
) -> None:
    """After commit, send pre-encoded frames `(topic, text[, seq])` of one `kind`, as one batch.

    For a fan-out whose frame differs per recipient (a bulk notification): one hop for
    the whole batch (one loop wake-up, one layer session, one outbox insert), not one each.
    """
    batch = [
        (
            item[0],
            Event(text=item[1], kind=kind, seq=item[2] if len(item) > 2 else None),
        )
        for item in items
    ]
    if batch:
        transaction.on_commit(lambda: dispatch_many(batch))


def publish_events(items: Iterable[tuple[str, Event]]) -> None:
    """After commit, send `(topic, event)` pairs of mixed kinds, as one batch (one hop).

    For a service whose one commit sets off several kinds of frames (a stored message:
    the room's frame, the sender's read pointer, the members' activity).
    """
    batch = list(items)
    if batch:
        transaction.on_commit(lambda: dispatch_many(batch))


def close_sockets(topic: str, code: int, *, user_id: int | None = None) -> None:
    """After commit, close every socket on `topic` (only `user_id`'s, when given) with `code`."""
    event = Event(close_code=int(code), user_id=user_id, kind="close")
    transaction.on_commit(lambda: dispatch(topic, event))


def dispatch(topic: str, event: Event) -> None:
    """Deliver now: through this process's hub, the channel layer, or the outbox."""
    dispatch_many([(topic, event)])


def dispatch_many(batch: Sequence[tuple[str, Event]]) -> None:
    """Deliver `(topic, event)` pairs now, in order: the one road every event takes.

    Through this process's hub when it serves sockets; from a process that serves none
    (a manage.py command), through the channel layer (cluster) or the outbox the serving
    process polls (embedded).
    """
    if hub.running:
        hub.publish_threadsafe(batch)
    elif is_cluster():
        _relay_from_command(batch)
    else:
        from realtime.registry.services import outbox_put_many

        outbox_put_many(events=[(topic, event.to_wire()) for topic, event in batch])


def _relay_from_command(batch: Sequence[tuple[str, Event]]) -> None:
    """From a process that serves no sockets (a command), in cluster mode: the layer.

    Runs after commit, so the data is stored whatever happens here: a layer that is down
    or hangs costs the live delivery only (bounded, logged), never the command itself;
    clients backfill by seq.
    """

    async def send_all() -> None:
        layer = get_channel_layer()
        for topic, event in batch:
            message = {
                "type": RELAY_TYPE,
                "topic": topic,
                "origin": "command",
                "event": event.to_wire(),
            }
            await asyncio.wait_for(layer.group_send(topic, message), LAYER_TIMEOUT)

    try:
        async_to_sync(send_all)()
    except Exception as exc:
        log.warning(
            "channel layer unreachable: %d events stored but not relayed live (%s)",
            len(batch),
            type(exc).__name__,
        )
