"""Conversations: direct rooms, joining and leaving public rooms.

Belonging (PROTOCOL.md 9) decides a user's sidebar, unread counts and activity frames,
never who may read a room: a public room by a Joined row (joining, or posting there), a
private room by its whitelist (Membership), a direct room by its two fixed whitelisted
users. A direct room is a private room (`is_private` true) whose whitelist no endpoint
changes, so every access check treats it as one.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from chat.errors import NotAllowed, RoomGone
from chat.models import Joined, Membership, Room
from chat.services.activity import activity_follow
from chat.services.reads import read_pointer_start

NAME_MAX = Room._meta.get_field("name").max_length


def direct_key(user_a: Any, user_b: Any) -> str:
    """The pair's key: the two ids, smaller first (so both sides find one room)."""
    low, high = sorted((int(user_a.pk), int(user_b.pk)))
    return f"{low}:{high}"


def direct_room_get_or_create(*, user: Any, other: Any) -> tuple[Room, bool]:
    """The direct room of `user` and `other`; (room, created). Same room both ways.

    The slug is chosen here (random, so it tells nothing about who talks); the name is
    the two usernames. ValidationError when `other` is `user`.
    """
    if other.pk == user.pk:
        raise ValidationError({"username": ["A direct room needs another user."]})
    key = direct_key(user, other)
    found = Room.objects.filter(direct_key=key).first()
    if found is not None:
        return found, False
    try:
        with transaction.atomic():
            room = Room.objects.create(
                slug=f"dm-{secrets.token_hex(8)}",
                # Room.name holds 100 characters; two usernames may hold 300.
                name=" & ".join(sorted((user.get_username(), other.get_username())))[
                    :NAME_MAX
                ],
                is_private=True,
                kind=Room.Kind.DIRECT,
                direct_key=key,
            )
            Membership.objects.bulk_create(
                [Membership(room=room, user=user), Membership(room=room, user=other)]
            )
            for member in (user, other):
                read_pointer_start(room=room, user=member)
            activity_follow(room_id=room.pk, user_ids=(user.pk, other.pk))
    except IntegrityError:
        # The other side made it at the same moment: theirs is the one.
        return Room.objects.get(direct_key=key), False
    return room, True


@transaction.atomic
def room_join(*, room: Room, user: Any) -> bool:
    """`user` belongs to the public `room` from now on; whether they newly joined.

    NotAllowed for private and direct rooms (they belong through the whitelist). The
    kind is read under the room's lock: a join that races the room turning private
    either lands first (and the change unfollows it) or is refused.
    """
    kind = (
        Room.objects.select_for_update()
        .filter(pk=room.pk)
        .values_list("kind", flat=True)
        .first()
    )
    if kind is None:
        raise RoomGone(room.slug)
    if kind != Room.Kind.PUBLIC:
        raise NotAllowed("only public rooms are joined; this one has a whitelist")
    _, created = Joined.objects.get_or_create(room=room, user=user)
    read_pointer_start(room=room, user=user)
    if created:
        activity_follow(room_id=room.pk, user_ids=(user.pk,))
    return created


@transaction.atomic
def room_leave(*, room: Room, user: Any) -> bool:
    """`user` no longer belongs to the public `room` (the pointer stays for a rejoin)."""
    if room.kind != Room.Kind.PUBLIC:
        raise NotAllowed("only public rooms are left; this one has a whitelist")
    removed, _ = Joined.objects.filter(room=room, user=user).delete()
    if removed:
        # After the commit: no activity frame of a later message reaches them (one
        # that races this order is of a message they could read, the room being public).
        activity_follow(room_id=room.pk, user_ids=(user.pk,), follow=False)
    return bool(removed)
