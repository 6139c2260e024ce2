"""Reads of the chat app: access, history, members, who is online."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet

from chat.models import AnnouncedPresence, Membership, Message, Room
from chat.schemas import Frame, message_row_frame, user_out
from chat.topics import ROUTE
from realtime.registry import sql
from realtime.registry.models import Connection

HISTORY_LAST = 50
HISTORY_SINCE_MAX = 500
ONLINE_LIST_MAX = 100
PAGE_LIMIT_DEFAULT = 50
PAGE_LIMIT_MAX = 200


@dataclass(frozen=True, slots=True)
class RoomAccess:
    """A room looked up for a user: `room` None when there is no such room."""

    room: Room | None
    allowed: bool


def room_get(*, slug: str) -> Room | None:
    """The room with this slug, or None."""
    return Room.objects.select_related("owner").filter(slug=slug).first()


def user_can_enter(*, room: Room, user: Any) -> bool:
    """Public rooms admit any authenticated user; private ones only their whitelist."""
    if not room.is_private:
        return True
    return (
        sql.fetchone(
            f"SELECT 1 FROM {sql.table(Membership)} WHERE {sql.column(Membership, 'room')}"
            f" = %s AND {sql.column(Membership, 'user')} = %s",
            [room.pk, user.pk],
        )
        is not None
    )


def room_id_for_slug(*, slug: str) -> int | None:
    """The id of the room with this slug, or None (one prepared query)."""
    row = sql.fetchone(
        f"SELECT {sql.column(Room, 'id')} FROM {sql.table(Room)}"
        f" WHERE {sql.column(Room, 'slug')} = %s",
        [slug],
    )
    return row[0] if row is not None else None


#: The Room columns room_access() loads (the others, owner included, load when read).
ACCESS_FIELDS = ("id", "slug", "name", "is_private", "owner", "last_seq")


def room_access(*, slug: str, user: Any) -> RoomAccess:
    """The room and whether `user` may enter it (the check of every REST call and connect).

    Prepared SQL (realtime.registry.sql): every chat handshake runs this and user_can_enter.
    """
    row = sql.fetchone(
        f"SELECT {sql.columns(Room, ACCESS_FIELDS)} FROM {sql.table(Room)}"
        f" WHERE {sql.column(Room, 'slug')} = %s",
        [slug],
    )
    room = sql.instance(Room, ACCESS_FIELDS, row) if row is not None else None
    if room is None:
        return RoomAccess(None, False)
    return RoomAccess(room, user_can_enter(room=room, user=user))


def rooms_for_user(*, user: Any) -> QuerySet[Room]:
    """Rooms the user may enter: public ones and private ones whitelisting them."""
    member = Membership.objects.filter(room=OuterRef("pk"), user_id=user.pk)
    return (
        Room.objects.select_related("owner")
        .filter(Q(is_private=False) | Q(Exists(member)))
        .order_by("slug")
    )


def room_members(*, room: Room) -> QuerySet[Any]:
    """The users on a room's whitelist, by username."""
    return (
        get_user_model()
        .objects.filter(room_memberships__room=room)
        .order_by("username")
    )


def messages_page(
    *, room: Room, after: int | None = None, before: int | None = None, limit: int
) -> tuple[list[Frame], bool]:
    """Up to `limit` messages ascending by seq, and whether more lie beyond the page.

    `after` pages forward (the oldest after it first); `before` alone pages back (the
    newest before it); neither gives the newest `limit`. Prepared SQL: every welcome
    runs it.
    """
    user_model = get_user_model()
    m, u = sql.table(Message), sql.table(user_model)
    seq = f"{m}.{sql.column(Message, 'seq')}"
    where = [f"{m}.{sql.column(Message, 'room')} = %s"]
    params: list[Any] = [room.pk]
    if after is not None:
        where.append(f"{seq} > %s")
        params.append(after)
    if before is not None:
        where.append(f"{seq} < %s")
        params.append(before)
    select = ", ".join(
        [
            *(f"{m}.{sql.column(Message, f)}" for f in ("id", "seq", "user")),
            f"{u}.{sql.column(user_model, user_model.USERNAME_FIELD)}",
            *(
                f"{m}.{sql.column(Message, f)}"
                for f in ("body", "created", "client_id")
            ),
        ]
    )
    rows = sql.fetchall(
        f"SELECT {select} FROM {m} INNER JOIN {u}"
        f" ON {u}.{sql.column(user_model, user_model._meta.pk.name)}"
        f" = {m}.{sql.column(Message, 'user')}"
        f" WHERE {' AND '.join(where)}"
        f" ORDER BY {seq} {'ASC' if after is not None else 'DESC'} LIMIT %s",
        [*params, limit + 1],
    )
    more = len(rows) > limit
    page = rows[:limit] if after is not None else rows[:limit][::-1]
    created = sql.converter(Message, "created")
    return [
        message_row_frame((*row[:5], created(row[5]), row[6]), room_slug=room.slug)
        for row in page
    ], more


def room_history(*, room: Room, since: int | None) -> tuple[list[Frame], bool]:
    """The welcome's history and `complete`.

    Without `since`: the last 50, which always reach the present (complete). With it:
    every message after `since`, oldest first, at most 500; `complete` is False when more
    follow, so the client pages on over REST with `after=<last seq>`.
    """
    if since is None:
        history, _older = messages_page(room=room, limit=HISTORY_LAST)
        return history, True
    history, more = messages_page(room=room, after=since, limit=HISTORY_SINCE_MAX)
    return history, not more


def online_users(*, room_slug: str) -> QuerySet[Any]:
    """Distinct users with a live socket in the room (the registry's rows), by username."""
    live = Connection.objects.filter(route=ROUTE, room_key=room_slug)
    return (
        get_user_model()
        .objects.filter(pk__in=live.values("user_id"))
        .order_by("username")
    )


def online_summary(
    *, room_slug: str, limit: int = ONLINE_LIST_MAX
) -> tuple[list[Frame], int]:
    """At most `limit` online users (by username), and how many there are.

    Prepared SQL: every welcome runs it (online_users() is the same set, as a QuerySet).
    """
    user_model = get_user_model()
    live = (
        f"SELECT {sql.column(Connection, 'user')} FROM {sql.table(Connection)}"
        f" WHERE {sql.column(Connection, 'route')} = %s"
        f" AND {sql.column(Connection, 'room_key')} = %s"
    )
    name = sql.column(user_model, user_model.USERNAME_FIELD)
    pk = sql.column(user_model, user_model._meta.pk.name)
    rows = sql.fetchall(
        f"SELECT {pk}, {name} FROM {sql.table(user_model)} WHERE {pk} IN ({live})"
        f" ORDER BY {name} LIMIT %s",
        [ROUTE, room_slug, limit],
    )
    listed = [user_out(user_id, username) for user_id, username in rows]
    if len(listed) < limit:
        return listed, len(listed)
    count = sql.fetchone(
        f"SELECT COUNT(DISTINCT {sql.column(Connection, 'user')})"
        f" FROM {sql.table(Connection)} WHERE {sql.column(Connection, 'route')} = %s"
        f" AND {sql.column(Connection, 'room_key')} = %s",
        [ROUTE, room_slug],
    )
    return listed, count[0] if count else 0


def presence_stale_rooms() -> list[str]:
    """Slugs whose announced presence differs from the live rows (a missed diff heals here)."""
    live = Connection.objects.filter(
        route=ROUTE, room_key=OuterRef("room__slug"), user_id=OuterRef("user_id")
    )
    announced = AnnouncedPresence.objects.filter(
        room__slug=OuterRef("room_key"), user_id=OuterRef("user_id")
    )
    gone = (
        AnnouncedPresence.objects.filter(~Exists(live))
        .values_list("room__slug", flat=True)
        .distinct()
    )
    unannounced = (
        Connection.objects.filter(route=ROUTE)
        .exclude(room_key="")
        .filter(~Exists(announced))
        .values_list("room_key", flat=True)
        .distinct()
    )
    return sorted(set(gone) | set(unannounced))
