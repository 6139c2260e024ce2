"""Writes of the socket plumbing: process leases, the connection registry, the outbox."""

from __future__ import annotations

import datetime as dt
import os
import socket
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
    """Register a socket; False (nothing written) when the user is at their cluster-wide cap.

    Prepared SQL (realtime.registry.sql), as connection_close: every socket runs both.
    """
    conn_user = sql.column(Connection, "user")
    if max_per_user > 0:
        # Lock the user's row so two handshakes cannot both take the last place. SQLite
        # has no row locks: its IMMEDIATE transaction already holds the one write lock.
        if connection.features.has_select_for_update:
            user_model = get_user_model()
            sql.fetchone(
                f"SELECT 1 FROM {sql.table(user_model)} WHERE"
                f" {sql.column(user_model, user_model._meta.pk.name)} = %s FOR UPDATE",
                [user_id],
            )
        (count,) = sql.fetchone(
            f"SELECT COUNT(*) FROM {sql.table(Connection)} WHERE {conn_user} = %s",
            [user_id],
        ) or (0,)
        if count >= max_per_user:
            return False
    known = sql.fetchone(
        f"SELECT 1 FROM {sql.table(ServerProcess)}"
        f" WHERE {sql.column(ServerProcess, 'id')} = %s",
        [process_id],
    )
    if known is None:
        process_register(process_id=process_id, lease_seconds=lease_seconds)
    sql.insert(
        Connection(
            id=connection_id,
            process_id=process_id,
            user_id=user_id,
            route=route,
            room_key=room_key,
        )
    )
    return True


@transaction.atomic
def connection_close(*, connection_id: str) -> ClosedConnection | None:
    """Remove a socket's row; apps hear of it (presence). None when it was already gone."""
    key = sql.column(Connection, "id")
    row = sql.fetchone(
        f"SELECT {sql.columns(Connection, ('user', 'route', 'room_key'))}"
        f" FROM {sql.table(Connection)} WHERE {key} = %s",
        [connection_id],
    )
    if row is None:
        return None
    sql.execute(
        f"DELETE FROM {sql.table(Connection)} WHERE {key} = %s", [connection_id]
    )
    closed = ClosedConnection(connection_id, *row)
    connections_closed.send(sender=Connection, connections=[closed])
    return closed


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
