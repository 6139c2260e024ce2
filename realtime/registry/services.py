"""Writes of the socket plumbing: process leases, the connection registry, the outbox."""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from realtime.registry import sql
from realtime.registry.models import Connection, Outbox, ServerProcess
from realtime.registry.signals import connections_closed


@dataclass(frozen=True, slots=True)
class ClosedConnection:
    """What the registry tells apps about a socket that is gone (presence leaves)."""

    connection_id: str
    user_id: int
    route: str
    room_key: str


def process_register(*, process_id: str, lease_seconds: float) -> None:
    """Record this serving process with a fresh lease."""
    ServerProcess.objects.update_or_create(
        id=process_id,
        defaults={
            "hostname": socket.gethostname()[:255],
            "pid": os.getpid(),
            "lease_until": timezone.now() + dt.timedelta(seconds=lease_seconds),
        },
    )


def process_renew(*, process_id: str, lease_seconds: float) -> None:
    """Extend this process's lease (re-creating its row if a survivor swept it by mistake)."""
    updated = ServerProcess.objects.filter(id=process_id).update(
        lease_until=timezone.now() + dt.timedelta(seconds=lease_seconds)
    )
    if not updated:
        process_register(process_id=process_id, lease_seconds=lease_seconds)


@transaction.atomic
def processes_sweep(*, exclude: str | None = None) -> list[ClosedConnection]:
    """Remove processes whose lease ran out, with their sockets; apps hear of each socket."""
    expired = ServerProcess.objects.filter(lease_until__lt=timezone.now())
    if exclude:
        expired = expired.exclude(id=exclude)
    ids = list(expired.values_list("id", flat=True))
    if not ids:
        return []
    rows = Connection.objects.filter(process_id__in=ids)
    closed = [
        ClosedConnection(c.id, c.user_id, c.route, c.room_key)
        for c in rows.only("id", "user_id", "route", "room_key")
    ]
    rows.delete()
    ServerProcess.objects.filter(id__in=ids).delete()
    if closed:
        connections_closed.send(sender=ServerProcess, connections=closed)
    return closed


@transaction.atomic
def process_release(*, process_id: str) -> list[ClosedConnection]:
    """A clean exit: remove this process's sockets and its row."""
    rows = Connection.objects.filter(process_id=process_id)
    closed = [ClosedConnection(c.id, c.user_id, c.route, c.room_key) for c in rows]
    rows.delete()
    ServerProcess.objects.filter(id=process_id).delete()
    if closed:
        connections_closed.send(sender=ServerProcess, connections=closed)
    return closed


@dataclass(frozen=True, slots=True)
class Opening:
    """A socket to register: the input of connections_open()."""

    connection_id: str
    user_id: int
    route: str
    room_key: str = ""


def connections_open(
    *,
    openings: Sequence[Opening],
    process_id: str,
    max_per_user: int,
    lease_seconds: float,
) -> list[bool]:
    """Register sockets, in the caller's transaction; for each, False (nothing written)
    when its user is at their cluster-wide cap.

    Many handshakes at once (realtime.socket.door) cost a handful of statements, not a
    handful each: the users' rows are locked in id order (PostgreSQL; SQLite's
    IMMEDIATE transaction already holds the one write lock), their sockets counted with
    one GROUP BY, and the rows go in as plain tuples in one executemany. Two sockets of
    one user in the same batch count against the cap in order.
    """
    if not openings:
        return []
    conn_user = sql.column(Connection, "user")
    counts: dict[int, int] = {}
    if max_per_user > 0:
        user_ids = sorted({o.user_id for o in openings})
        marks = sql.placeholders(len(user_ids))
        if connection.features.has_select_for_update:
            user_model = get_user_model()
            user_pk = sql.column(user_model, user_model._meta.pk.name)
            # NO KEY UPDATE: it serializes the cap checks of one user's sockets, but
            # not the foreign-key checks (KEY SHARE) of inserts naming the user, so a
            # message write never waits behind a batch of handshakes.
            lock = (
                "FOR NO KEY UPDATE"
                if connection.vendor == "postgresql"
                else "FOR UPDATE"
            )
            sql.fetchall(
                f"SELECT 1 FROM {sql.table(user_model)} WHERE {user_pk} IN ({marks})"
                f" ORDER BY {user_pk} {lock}",
                user_ids,
            )
        counts = dict(
            sql.fetchall(
                f"SELECT {conn_user}, COUNT(*) FROM {sql.table(Connection)}"
                f" WHERE {conn_user} IN ({marks}) GROUP BY {conn_user}",
                user_ids,
            )
        )
    known = sql.fetchone(
        f"SELECT 1 FROM {sql.table(ServerProcess)}"
        f" WHERE {sql.column(ServerProcess, 'id')} = %s",
        [process_id],
    )
    if known is None:
        process_register(process_id=process_id, lease_seconds=lease_seconds)
    # One time for the batch: `opened` and `last_seen` (auto_now_add) of every row.
    now = sql.db_value(Connection, "opened", timezone.now())
    allowed: list[bool] = []
    rows: list[tuple[Any, ...]] = []
    for o in openings:
        held = counts.get(o.user_id, 0)
        if max_per_user > 0 and held >= max_per_user:
            allowed.append(False)
            continue
        counts[o.user_id] = held + 1
        allowed.append(True)
        rows.append(
            (o.connection_id, process_id, o.user_id, o.route, o.room_key, now, now)
        )
    sql.insert_rows(Connection, _CONNECTION_FIELDS, rows)
    return allowed


#: a Connection row's columns, in the order connections_open() writes them
_CONNECTION_FIELDS = (
    "id",
    "process",
    "user",
    "route",
    "room_key",
    "opened",
    "last_seen",
)


@transaction.atomic
def connection_open(
    *,
    connection_id: str,
    process_id: str,
    user_id: int,
    route: str,
    room_key: str = "",
    max_per_user: int,
    lease_seconds: float,
) -> bool:
    """Register one socket; False (nothing written) when the user is at their cap."""
    (ok,) = connections_open(
        openings=[Opening(connection_id, user_id, route, room_key)],
        process_id=process_id,
        max_per_user=max_per_user,
        lease_seconds=lease_seconds,
    )
    return ok


@transaction.atomic
def connections_close(*, connection_ids: Sequence[str]) -> list[ClosedConnection]:
    """Remove sockets' rows (one SELECT, one DELETE); apps hear of them (presence) once.

    Rows already gone (swept, released) are skipped.
    """
    if not connection_ids:
        return []
    key = sql.column(Connection, "id")
    marks = sql.placeholders(len(connection_ids))
    rows = sql.fetchall(
        f"SELECT {key}, {sql.columns(Connection, ('user', 'route', 'room_key'))}"
        f" FROM {sql.table(Connection)} WHERE {key} IN ({marks})",
        list(connection_ids),
    )
    if not rows:
        return []
    sql.execute(
        f"DELETE FROM {sql.table(Connection)} WHERE {key} IN ({marks})",
        list(connection_ids),
    )
    closed = [ClosedConnection(*row) for row in rows]
    connections_closed.send(sender=Connection, connections=closed)
    return closed


def connection_close(*, connection_id: str) -> ClosedConnection | None:
    """Remove one socket's row; None when it was already gone."""
    closed = connections_close(connection_ids=[connection_id])
    return closed[0] if closed else None


def outbox_put_many(*, events: list[tuple[str, dict[str, Any]]]) -> None:
    """Queue events for the serving process (embedded mode, from a command): one
    multi-row insert per batch of `(topic, event)` pairs."""
    Outbox.objects.bulk_create(
        [Outbox(topic=topic, payload=event) for topic, event in events], batch_size=500
    )


def outbox_take(
    *, after_id: int, limit: int = 5000
) -> list[tuple[int, str, dict[str, Any]]]:
    """Events queued after `after_id`, oldest first (a read: polling takes no write lock)."""
    return list(
        Outbox.objects.filter(id__gt=after_id)
        .order_by("id")
        .values_list("id", "topic", "payload")[:limit]
    )


def outbox_prune(*, older_than_seconds: float = 300) -> int:
    """Delete outbox rows every serving process has long since read."""
    cutoff = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    deleted, _ = Outbox.objects.filter(created__lt=cutoff).delete()
    return deleted


def outbox_last_id() -> int:
    """The newest outbox id: a starting process skips what was queued before it."""
    last = Outbox.objects.order_by("-id").values_list("id", flat=True).first()
    return last or 0
