"""Presence: the database's diff of who is online in a room, published once per change.

The per-process batcher (chat.presence_batcher) decides when a room is flushed; this
module decides what its sockets are told.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from chat import signals
from chat.models import AnnouncedPresence, Room
from chat.schemas import presence_frame, user_out
from chat.topics import ROUTE, chat_room_group
from realtime.fanout import broadcast
from realtime.registry import sql
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
    # Plain SQL and tuples (realtime.registry.sql): this runs for every room whose
    # sockets came or went, and the ORM's query building and model instances were a
    # visible share of a handshake storm's CPU.
    room_pk, slug_column = sql.column(Room, "id"), sql.column(Room, "slug")
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    flushed_at = sql.converter(Room, "presence_flushed_at")
    rooms = [
        (pk, room_slug, flushed_at(last))
        for pk, room_slug, last in sql.fetchall(
            f"SELECT {room_pk}, {slug_column},"
            f" {sql.column(Room, 'presence_flushed_at')} FROM {sql.table(Room)}"
            f" WHERE {slug_column} IN ({sql.placeholders(len(keys))})"
            f" ORDER BY {room_pk}{lock}",
            keys,
        )
    ]
    now = timezone.now()
    gap = dt.timedelta(seconds=interval)
    deferred: dict[str, float] = {}
    due: dict[str, int] = {}  # slug -> room id
    for pk, room_slug, last in rooms:
        if last is not None and now - last < gap:
            deferred[room_slug] = (last + gap - now).total_seconds()
        else:
            due[room_slug] = pk
    if not due:
        return deferred
    online: dict[int, set[int]] = {pk: set() for pk in due.values()}
    room_key, route = (
        sql.column(Connection, "room_key"),
        sql.column(Connection, "route"),
    )
    for room_slug, user_id in sql.fetchall(
        f"SELECT DISTINCT {room_key}, {sql.column(Connection, 'user')}"
        f" FROM {sql.table(Connection)} WHERE {route} = %s"
        f" AND {room_key} IN ({sql.placeholders(len(due))})",
        [ROUTE, *due],
    ):
        online[due[room_slug]].add(user_id)
    announced: dict[int, set[int]] = {pk: set() for pk in online}
    ap_room, ap_user = (
        sql.column(AnnouncedPresence, "room"),
        sql.column(AnnouncedPresence, "user"),
    )
    for room_id, user_id in sql.fetchall(
        f"SELECT {ap_room}, {ap_user} FROM {sql.table(AnnouncedPresence)}"
        f" WHERE {ap_room} IN ({sql.placeholders(len(online))})",
        list(online),
    ):
        announced[room_id].add(user_id)

    joins = {pk: online[pk] - announced[pk] for pk in online}
    leaves = {pk: announced[pk] - online[pk] for pk in online}
    changed = [
        (room_slug, pk) for room_slug, pk in due.items() if joins[pk] or leaves[pk]
    ]
    if not changed:
        return deferred
    since = sql.db_value(AnnouncedPresence, "since", now)
    sql.insert_rows(
        AnnouncedPresence,
        ("room", "user", "since"),
        [(pk, u, since) for _, pk in changed for u in joins[pk]],
    )
    for _, pk in changed:
        if leaves[pk]:
            sql.execute(
                f"DELETE FROM {sql.table(AnnouncedPresence)} WHERE {ap_room} = %s"
                f" AND {ap_user} IN ({sql.placeholders(len(leaves[pk]))})",
                [pk, *leaves[pk]],
            )
    ids = sorted(set().union(*joins.values(), *leaves.values()))
    user_model = get_user_model()
    user_pk = sql.column(user_model, user_model._meta.pk.name)
    names = dict(
        sql.fetchall(
            f"SELECT {user_pk}, {sql.column(user_model, 'username')}"
            f" FROM {sql.table(user_model)}"
            f" WHERE {user_pk} IN ({sql.placeholders(len(ids))})",
            ids,
        )
    )
    sql.execute(
        f"UPDATE {sql.table(Room)}"
        f" SET {sql.column(Room, 'presence_flushed_at')} = %s"
        f" WHERE {room_pk} IN ({sql.placeholders(len(changed))})",
        [sql.db_value(Room, "presence_flushed_at", now), *(pk for _, pk in changed)],
    )
    # A room with nobody announced that now has someone is occupied; the reverse, vacated.
    occupied = [room for room, pk in changed if online[pk] and not announced[pk]]
    vacated = [room for room, pk in changed if announced[pk] and not online[pk]]
    if occupied or vacated:
        signals.rooms_occupancy_changed.send(
            sender=Room, occupied=occupied, vacated=vacated
        )
    for _, pk in changed:
        frame = presence_frame(
            joins=[user_out(u, names.get(u, "")) for u in sorted(joins[pk])],
            leaves=[user_out(u, names.get(u, "")) for u in sorted(leaves[pk])],
            count=len(online[pk]),
        )
        broadcast.publish(chat_room_group(pk), frame)
    return deferred
