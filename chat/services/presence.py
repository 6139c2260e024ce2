"""Presence: the database's diff of who is online in a room, published once per change.

The per-process batcher (chat.presence_batcher) decides when a room is flushed; this
module decides what its sockets are told.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from chat import signals
from chat.models import AnnouncedPresence, Room
from chat.schemas import presence_frame, user_out
from chat.topics import ROUTE, chat_room_group
from realtime.fanout import broadcast
from realtime.registry.models import Connection


@transaction.atomic
def presence_flush(*, room_keys: Iterable[str], interval: float) -> dict[str, float]:
    """Publish one presence diff per room that changed; rooms flushed too recently wait.

    The diff is computed from the database, for the whole room: the users with a live
    socket (Connection rows) against those last announced (AnnouncedPresence). The room
    rows are locked, so two processes flushing one room announce each change once.
    Returns the rooms deferred by the per-room interval, with the seconds left to wait.
    """
    keys = sorted({k for k in room_keys if k})
    if not keys:
        return {}
    rooms = list(
        Room.objects.select_for_update()
        .filter(slug__in=keys)
        .order_by("pk")
        .only("pk", "slug", "presence_flushed_at")
    )
    now = timezone.now()
    gap = dt.timedelta(seconds=interval)
    deferred: dict[str, float] = {}
    due: list[Room] = []
    for room in rooms:
        last = room.presence_flushed_at
        if last is not None and now - last < gap:
            deferred[room.slug] = (last + gap - now).total_seconds()
        else:
            due.append(room)
    if not due:
        return deferred
    slugs = {room.slug: room for room in due}
    online: dict[int, set[int]] = {room.pk: set() for room in due}
    for slug, user_id in (
        Connection.objects.filter(route=ROUTE, room_key__in=list(slugs))
        .values_list("room_key", "user_id")
        .distinct()
    ):
        online[slugs[slug].pk].add(user_id)
    announced: dict[int, set[int]] = {room.pk: set() for room in due}
    for room_id, user_id in AnnouncedPresence.objects.filter(
        room_id__in=list(online)
    ).values_list("room_id", "user_id"):
        announced[room_id].add(user_id)

    joins = {pk: online[pk] - announced[pk] for pk in online}
    leaves = {pk: announced[pk] - online[pk] for pk in online}
    changed = [room for room in due if joins[room.pk] or leaves[room.pk]]
    if not changed:
        return deferred
    AnnouncedPresence.objects.bulk_create(
        [
            AnnouncedPresence(room_id=room.pk, user_id=u)
            for room in changed
            for u in joins[room.pk]
        ]
    )
    for room in changed:
        if leaves[room.pk]:
            AnnouncedPresence.objects.filter(
                room_id=room.pk, user_id__in=leaves[room.pk]
            ).delete()
    ids = set().union(*joins.values(), *leaves.values())
    names = dict(
        get_user_model().objects.filter(pk__in=ids).values_list("pk", "username")
    )
    Room.objects.filter(pk__in=[room.pk for room in changed]).update(
        presence_flushed_at=now
    )
    # A room with nobody announced that now has someone is occupied; the reverse, vacated.
    occupied = [r.slug for r in changed if online[r.pk] and not announced[r.pk]]
    vacated = [r.slug for r in changed if announced[r.pk] and not online[r.pk]]
    if occupied or vacated:
        signals.rooms_occupancy_changed.send(
            sender=Room, occupied=occupied, vacated=vacated
        )
    for room in changed:
        frame = presence_frame(
            joins=[user_out(u, names.get(u, "")) for u in sorted(joins[room.pk])],
            leaves=[user_out(u, names.get(u, "")) for u in sorted(leaves[room.pk])],
            count=len(online[room.pk]),
        )
        broadcast.publish(chat_room_group(room.pk), frame)
    return deferred
