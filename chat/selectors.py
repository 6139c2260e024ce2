"""Reads of the chat app: access, history, members, who is online."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet

from chat.models import AnnouncedPresence, Membership, Message, Room
from chat.schemas import (
    MESSAGE_ROW,
    MessageOut,
    UserOut,
    message_row_frame,
    user_out,
)
from realtime.ws.models import Connection

CHAT_ROUTE = "chat"
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
    return Membership.objects.filter(room=room, user_id=user.pk).exists()


def room_access(*, slug: str, user: Any) -> RoomAccess:
    """The room and whether `user` may enter it (the check of every REST call and connect)."""
    room = room_get(slug=slug)
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
) -> tuple[list[MessageOut], bool]:
    """Up to `limit` messages ascending by seq, and whether more lie beyond the page.

    `after` pages forward (the oldest after it first); `before` alone pages back (the
    newest before it); neither gives the newest `limit`.
    """
    rows = Message.objects.filter(room=room)
    if after is not None:
        rows = rows.filter(seq__gt=after)
    if before is not None:
        rows = rows.filter(seq__lt=before)
    if after is not None:
        page = list(rows.order_by("seq").values_list(*MESSAGE_ROW)[: limit + 1])
        more = len(page) > limit
        page = page[:limit]
    else:
        page = list(rows.order_by("-seq").values_list(*MESSAGE_ROW)[: limit + 1])
        more = len(page) > limit
        page = page[:limit][::-1]
    return [message_row_frame(row, room_slug=room.slug) for row in page], more


def room_history(*, room: Room, since: int | None) -> tuple[list[MessageOut], bool]:
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
    live = Connection.objects.filter(route=CHAT_ROUTE, room_key=room_slug)
    return (
        get_user_model()
        .objects.filter(pk__in=live.values("user_id"))
        .order_by("username")
    )


def online_summary(
    *, room_slug: str, limit: int = ONLINE_LIST_MAX
) -> tuple[list[UserOut], int]:
    """At most `limit` online users, and how many there are."""
    users = online_users(room_slug=room_slug)
    listed = [
        user_out(pk, name) for pk, name in users.values_list("pk", "username")[:limit]
    ]
    count = len(listed) if len(listed) < limit else users.count()
    return listed, count


@dataclass(frozen=True, slots=True)
class Welcome:
    """What a chat socket's welcome frame needs from the database."""

    allowed: bool
    history: list[MessageOut]
    complete: bool
    online: list[UserOut]
    online_count: int


def room_welcome(*, room: Room, user: Any, since: int | None) -> Welcome:
    """History, online users, and a fresh access check (a revoke may have raced the connect)."""
    if not user_can_enter(room=room, user=user):
        return Welcome(False, [], True, [], 0)
    history, complete = room_history(room=room, since=since)
    online, count = online_summary(room_slug=room.slug)
    return Welcome(True, history, complete, online, count)


def presence_stale_rooms() -> list[str]:
    """Slugs whose announced presence differs from the live rows (a missed diff heals here)."""
    live = Connection.objects.filter(
        route=CHAT_ROUTE, room_key=OuterRef("room__slug"), user_id=OuterRef("user_id")
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
        Connection.objects.filter(route=CHAT_ROUTE)
        .exclude(room_key="")
        .filter(~Exists(announced))
        .values_list("room_key", flat=True)
        .distinct()
    )
    return sorted(set(gone) | set(unannounced))
