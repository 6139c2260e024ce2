"""Rooms and their whitelist: create, change, delete, grant, revoke.

A change that shuts someone out (the room turns private, a revoke, a delete) closes their
sockets in the room on every process, after the commit.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from chat import signals
from chat.errors import NotAllowed, RoomGone
from chat.models import Joined, Membership, Room
from chat.room_ids import room_ids
from chat.schemas import room_frame
from chat.services.reads import read_pointer_start
from chat.topics import ROUTE, chat_room_group
from realtime.fanout import broadcast
from realtime.registry.models import Connection
from realtime.socket.closecodes import CloseCode

#: what room_update() changes (and reads fresh, under the row's lock)
SETTINGS_FIELDS = ("name", "topic", "is_private", "kind", "archived", "owner")

#: room_update()'s "leave the owner as it is" (None means "no owner").
UNCHANGED: Any = object()


@transaction.atomic
def room_create(
    *, slug: str, name: str = "", is_private: bool = False, owner: Any = None
) -> Room:
    """Create a room; its owner (if any) owns it and is on its whitelist (ValidationError)."""
    room = Room(
        slug=slug,
        name=name or slug,
        is_private=is_private,
        kind=Room.Kind.PRIVATE if is_private else Room.Kind.PUBLIC,
        owner=owner,
    )
    room.full_clean()
    try:
        with transaction.atomic():
            room.save()
    except IntegrityError:
        # Another request took the slug between full_clean() and the INSERT.
        raise ValidationError(
            {"slug": ["Room with this Slug already exists."]}
        ) from None
    if owner is not None:
        Membership.objects.create(room=room, user=owner)
        _member_added(room, owner)
        if not is_private:
            Joined.objects.create(room=room, user=owner)
        read_pointer_start(room=room, user=owner)
    return room


@transaction.atomic
def room_update(
    *,
    room: Room,
    name: str | None = None,
    is_private: bool | None = None,
    owner: Any = UNCHANGED,
    topic: str | None = None,
    archived: bool | None = None,
) -> Room:
    """Change a room's name, topic, privacy, archived state or owner (never the slug).

    `archived` True stamps the time (an archived room keeps its first stamp), False
    clears it: an archived room is read-only (messages_create refuses RoomArchived).
    A new owner joins the whitelist; turning private closes the sockets of users not on
    it with 4403. A change its sockets show (name, topic, kind, archived) reaches them
    as a `room` frame after the commit. RoomGone when the room was deleted meanwhile.
    """
    if room.kind == Room.Kind.DIRECT and (
        (is_private is not None and not is_private) or owner is not UNCHANGED
    ):
        raise ValidationError(
            {"is_private": ["A direct room stays between its two users."]}
        )
    # The row as stored, locked: two owners' (or an owner's and an admin's) changes
    # queue instead of writing back each other's stale fields.
    try:
        room.refresh_from_db(
            fields=[*SETTINGS_FIELDS, "last_seq"],
            from_queryset=Room.objects.select_for_update(),
        )
    except Room.DoesNotExist:
        raise RoomGone("no such room") from None
    shown = _shown(room)
    became_private = is_private is True and not room.is_private
    became_public = is_private is False and room.is_private
    if name is not None:
        room.name = name
    if topic is not None:
        room.topic = topic
    if archived is not None and archived != (room.archived is not None):
        room.archived = timezone.now() if archived else None
    if is_private is not None and room.kind != Room.Kind.DIRECT:
        room.is_private = is_private
        room.kind = Room.Kind.PRIVATE if is_private else Room.Kind.PUBLIC
    if owner is not UNCHANGED:
        room.owner = owner
    room.full_clean(exclude=["slug"])
    Room.objects.filter(pk=room.pk).update(
        **{field: getattr(room, field) for field in SETTINGS_FIELDS}
    )
    if _shown(room) != shown:
        broadcast.publish(chat_room_group(room.pk), room_frame(room))
    if became_public:
        # Its whitelisted users keep it in their sidebar: they join it.
        Joined.objects.bulk_create(
            [
                Joined(room=room, user_id=uid)
                for uid in Membership.objects.filter(room=room).values_list(
                    "user_id", flat=True
                )
            ],
            ignore_conflicts=True,
        )
    if room.owner is not None:
        _, joined = Membership.objects.get_or_create(room=room, user=room.owner)
        if joined:
            read_pointer_start(room=room, user=room.owner)
            _member_added(room, room.owner)
    if became_private:
        members = Membership.objects.filter(room=room).values("user_id")
        outsiders = (
            Connection.objects.filter(route=ROUTE, room_key=room.slug)
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
    room_id, slug = room.pk, room.slug
    Room.objects.filter(pk=room_id).delete()
    # This process forgets the id at once; the others find out at their next handshake.
    transaction.on_commit(lambda: room_ids.forget(slug))
    broadcast.close_sockets(chat_room_group(room_id), CloseCode.NOT_FOUND)


@transaction.atomic
def membership_grant(*, room: Room, user: Any) -> tuple[Membership, bool]:
    """Put `user` on the room's whitelist; (membership, created).

    NotAllowed for a direct room (its two users are fixed).
    """
    if room.kind == Room.Kind.DIRECT:
        raise NotAllowed("a direct room's users are fixed")
    membership, created = Membership.objects.get_or_create(room=room, user=user)
    if created:
        _member_added(room, user)
        read_pointer_start(room=room, user=user)
    return membership, created


@transaction.atomic
def membership_revoke(*, room: Room, user: Any) -> bool:
    """Take `user` off the whitelist and close their sockets in the room with 4403.

    This is also the kick: the sockets close on every process, after the commit, whether
    or not the user was on the whitelist. Returns whether a membership was removed.
    NotAllowed for a direct room (its two users are fixed).
    """
    if room.kind == Room.Kind.DIRECT:
        raise NotAllowed("a direct room's users are fixed")
    if room.owner_id is not None and room.owner_id == user.pk:
        raise ValidationError(
            {"username": "The owner cannot be removed from their room."}
        )
    removed, _ = Membership.objects.filter(room=room, user=user).delete()
    broadcast.close_sockets(
        chat_room_group(room.pk), CloseCode.FORBIDDEN, user_id=user.pk
    )
    if removed:
        signals.membership_changed.send(
            sender=Membership, room=room, user=user, added=False
        )
    return bool(removed)


def _shown(room: Room) -> tuple[Any, ...]:
    """What a room's sockets show of it: a change of any of these is a `room` frame."""
    return (room.name, room.topic, room.kind, room.archived)


def _member_added(room: Room, user: Any) -> None:
    """Tell listeners (webhooks) in this transaction: `user` is on the whitelist now."""
    signals.membership_changed.send(sender=Membership, room=room, user=user, added=True)
