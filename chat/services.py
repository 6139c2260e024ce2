"""Writes of the chat app: the only code that changes rooms, whitelists, messages, presence.

Every event leaves through realtime.ws.broadcast, after the commit of the transaction
that made it true; the topic (who receives it) is chosen here, from one helper.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from chat.models import AnnouncedPresence, Membership, Message, Room
from chat.schemas import (
    CLIENT_ID_MAX,
    clean_body,
    message_deleted_frame,
    message_frame,
    presence_frame,
    system_frame,
    user_out,
)
from realtime.ws import broadcast
from realtime.ws.closecodes import CloseCode
from realtime.ws.frames import now_iso
from realtime.ws.models import Connection

CHAT_ROUTE = "chat"
UNCHANGED: Any = object()


def chat_room_group(room_id: int) -> str:
    """The topic of one room's sockets (built from the id, never from URL text)."""
    return f"chat.room.{int(room_id)}"


def chat_all_group() -> str:
    """The topic every chat socket also joins: system broadcasts to every room."""
    return "chat.all"


class ChatError(Exception):
    """Base of the chat app's refusals."""


class NotAllowed(ChatError):
    """The user may not post in (or enter) this room."""


class RoomGone(ChatError):
    """The room was deleted meanwhile."""


# --- rooms and the whitelist ------------------------------------------------------------


@transaction.atomic
def room_create(
    *, slug: str, name: str = "", is_private: bool = False, owner: Any = None
) -> Room:
    """Create a room; its owner (if any) owns it and is on its whitelist (ValidationError)."""
    room = Room(slug=slug, name=name or slug, is_private=is_private, owner=owner)
    room.full_clean()
    room.save()
    if owner is not None:
        Membership.objects.create(room=room, user=owner)
    return room


@transaction.atomic
def room_update(
    *,
    room: Room,
    name: str | None = None,
    is_private: bool | None = None,
    owner: Any = UNCHANGED,
) -> Room:
    """Change a room's name, privacy or owner (the slug never changes).

    A new owner joins the whitelist; turning private closes the sockets of users not on
    it with 4403.
    """
    became_private = is_private is True and not room.is_private
    if name is not None:
        room.name = name
    if is_private is not None:
        room.is_private = is_private
    if owner is not UNCHANGED:
        room.owner = owner
    room.full_clean(exclude=["slug"])
    Room.objects.filter(pk=room.pk).update(
        name=room.name, is_private=room.is_private, owner=room.owner
    )
    if room.owner is not None:
        Membership.objects.get_or_create(room=room, user=room.owner)
    if became_private:
        members = Membership.objects.filter(room=room).values("user_id")
        outsiders = (
            Connection.objects.filter(route=CHAT_ROUTE, room_key=room.slug)
            .exclude(user_id__in=members)
            .values_list("user_id", flat=True)
            .distinct()
        )
        for user_id in outsiders:
            broadcast.close_sockets(
                chat_room_group(room.pk), CloseCode.FORBIDDEN, user_id=user_id
            )
    return room


@transaction.atomic
def room_delete(*, room: Room) -> None:
    """Delete a room with its messages and whitelist; its sockets close with 4404."""
    room_id = room.pk
    Room.objects.filter(pk=room_id).delete()
    broadcast.close_sockets(chat_room_group(room_id), CloseCode.NOT_FOUND)


@transaction.atomic
def membership_grant(*, room: Room, user: Any) -> tuple[Membership, bool]:
    """Put `user` on the room's whitelist; (membership, created)."""
    return Membership.objects.get_or_create(room=room, user=user)


@transaction.atomic
def membership_revoke(*, room: Room, user: Any) -> bool:
    """Take `user` off the whitelist and close their sockets in the room with 4403.

    This is also the kick: the sockets close on every process, after the commit, whether
    or not the user was on the whitelist. Returns whether a membership was removed.
    """
    if room.owner_id is not None and room.owner_id == user.pk:
        raise ValidationError(
            {"username": "The owner cannot be removed from their room."}
        )
    removed, _ = Membership.objects.filter(room=room, user=user).delete()
    broadcast.close_sockets(
        chat_room_group(room.pk), CloseCode.FORBIDDEN, user_id=user.pk
    )
    return bool(removed)


# --- messages ---------------------------------------------------------------------------


def _clean_client_id(client_id: str | None) -> str | None:
    if client_id is None:
        return None
    if (
        not isinstance(client_id, str)
        or not 1 <= len(client_id) <= CLIENT_ID_MAX
        or "\x00" in client_id
    ):
        raise ValidationError({"client_id": f"1 to {CLIENT_ID_MAX} characters."})
    return client_id


@transaction.atomic
def message_create(
    *, room: Room, user: Any, body: str, client_id: str | None = None
) -> tuple[Message, bool]:
    """Store a message with the room's next seq and deliver it after commit; (message, created).

    The one road for the socket, REST and commands. The room row is locked first
    (PostgreSQL: SELECT ... FOR UPDATE; SQLite: the IMMEDIATE transaction holds the write
    lock), so concurrent writers queue: seq has no gap and no duplicate, and a resend with
    the same `client_id` finds the original and stores nothing (created False, no event).
    """
    try:
        body = clean_body(body)
    except ValueError as exc:
        raise ValidationError({"body": str(exc)}) from None
    client_id = _clean_client_id(client_id)
    locked = (
        Room.objects.select_for_update()
        .filter(pk=room.pk)
        .values("last_seq", "is_private")
    )
    state = locked.first()
    if state is None:
        raise RoomGone(room.slug)
    if client_id is not None:
        # The unique (user, room, client_id) index finds at most one row: no ORDER BY
        # (first() would add one, and a sort step, to every send that carries an id).
        matches = (
            Message.objects.select_related("user")
            .filter(room=room, user_id=user.pk, client_id=client_id)
            .order_by()
        )
        original = next(iter(matches[:1]), None)
        if original is not None:
            original.room = room
            return original, False
    if (
        state["is_private"]
        and not Membership.objects.filter(room=room, user_id=user.pk).exists()
    ):
        raise NotAllowed("not on this room's whitelist")
    seq = state["last_seq"] + 1
    Room.objects.filter(pk=room.pk).update(last_seq=seq)
    message = Message.objects.create(
        room=room, user=user, seq=seq, body=body, client_id=client_id
    )
    room.last_seq = seq
    broadcast.publish(
        chat_room_group(room.pk), message_frame(message, room_slug=room.slug)
    )
    return message, True


@transaction.atomic
def message_delete(*, message: Message) -> None:
    """Delete a stored message; the room's sockets get a `message_deleted` frame."""
    room = Room.objects.only("id", "slug").get(pk=message.room_id)
    frame = message_deleted_frame(
        message_id=message.pk, room_slug=room.slug, seq=message.seq
    )
    Message.objects.filter(pk=message.pk).delete()
    broadcast.publish(chat_room_group(room.pk), frame)


def system_broadcast(*, body: str, room: Room | None = None) -> None:
    """A `system` frame to one room's sockets, or to every chat socket (room None)."""
    body = body.strip()
    if not body:
        raise ValidationError({"body": "body is empty"})
    topic = chat_room_group(room.pk) if room is not None else chat_all_group()
    with transaction.atomic():
        broadcast.publish(topic, system_frame(body, ts=now_iso()))


# --- presence ---------------------------------------------------------------------------


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
        Connection.objects.filter(route=CHAT_ROUTE, room_key__in=list(slugs))
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
    for room in changed:
        frame = presence_frame(
            joins=[user_out(u, names.get(u, "")) for u in sorted(joins[room.pk])],
            leaves=[user_out(u, names.get(u, "")) for u in sorted(leaves[room.pk])],
            count=len(online[room.pk]),
        )
        broadcast.publish(chat_room_group(room.pk), frame)
    return deferred
