"""Messages that change (PROTOCOL.md 10): edits, deletes (tombstones) and reactions.

Each change locks its room's row, bumps the room's `rev`, stamps the message with it and
goes to the room as `message_updated` (the message's whole current state) after the
commit, so a client holding any rev can catch up with `?since=&rev=` or
`GET /api/rooms/<slug>/changes/?rev=`. A change that changes nothing (the same body, a
reaction already there, a delete of a tombstone) stores nothing and sends nothing.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from chat import selectors, signals
from chat.errors import (
    MessageDeleted,
    MessageGone,
    NotAllowed,
    NotPermitted,
    RoomArchived,
    TooManyReactions,
)
from chat.models import (
    DeletedSeq,
    Mention,
    Message,
    MessageVersion,
    Reaction,
    Room,
)
from chat.schemas import (
    REACTIONS_MAX,
    Frame,
    clean_body,
    clean_emoji,
    message_updated_frame,
)
from chat.services.activity import mentions_restate, mentions_withdraw
from chat.topics import chat_room_group
from realtime.fanout import broadcast


def _locked(message: Message) -> tuple[Room, Message]:
    """The message's room, locked (changes of a room queue here), and the message as it
    is now under that lock. MessageGone when either is gone."""
    room = (
        Room.objects.select_for_update()
        .only("id", "slug", "rev", "owner_id", "is_private", "kind", "archived")
        .filter(pk=message.room_id)
        .first()
    )
    current = (
        Message.objects.filter(pk=message.pk, room_id=message.room_id).first()
        if room is not None
        else None
    )
    if room is None or current is None:
        raise MessageGone()
    return room, current


def _stamp(room: Room, message: Message, **fields: Any) -> Frame:
    """Bump the room's rev, stamp the message with it (and `fields`), and publish the
    message's new state after commit; its frame."""
    room.rev += 1
    Room.objects.filter(pk=room.pk).update(rev=room.rev)
    Message.objects.filter(pk=message.pk).update(rev=room.rev, **fields)
    frame = selectors.message_state(room=room, message_id=message.pk)
    assert frame is not None  # the room is locked: the message cannot go meanwhile
    signals.message_changed.send(sender=Message, frame=frame)
    # No seq on the event: the consumer's each-seq-once filter is for new messages.
    broadcast.publish(chat_room_group(room.pk), message_updated_frame(frame))
    return frame


def _keep_version(message: Message) -> None:
    """Keep the body about to be replaced, with when it was written."""
    MessageVersion.objects.create(
        message_id=message.pk,
        body=message.body,
        created=message.edited or message.created,
    )


@transaction.atomic
def message_edit(*, message: Message, user: Any, body: str) -> Frame:
    """Replace a message's body (its author only), keeping the old one as a version.

    Raises NotPermitted, MessageDeleted, MessageGone, RoomArchived (an archived room is
    read-only; a delete still goes through: moderation, and taking a message back) or
    ValidationError (`body`).
    Returns the message's current state.
    """
    try:
        body = clean_body(body)
    except ValueError as exc:
        raise ValidationError({"body": str(exc)}) from None
    room, current = _locked(message)
    if room.archived is not None:
        raise RoomArchived()
    if current.user_id != user.pk:
        raise NotPermitted("Only its author may edit a message.")
    if not selectors.user_can_enter(room=room, user=user):
        # Taken off the whitelist: no more edits, whichever process their socket is on.
        raise NotAllowed("not on this room's whitelist")
    if current.deleted:
        raise MessageDeleted()
    if current.body == body:
        frame = selectors.message_state(room=room, message_id=current.pk)
        assert frame is not None
        return frame
    _keep_version(current)
    frame = _stamp(room, current, body=body, edited=timezone.now())
    current.body, current.room = body, room
    mentions_restate(message=current, room=room)
    return frame


@transaction.atomic
def message_delete(*, message: Message, by: Any | None = None) -> Frame:
    """Make a message a tombstone: same id and seq, no body, no reactions, no mentions.

    `by`: who deletes (its author, the room's owner or staff; NotPermitted otherwise);
    None for a trusted caller (a command, the admin's own checks). The body is kept as
    a version (the moderation trail: author, owner and staff may read it). Its seq
    goes into DeletedSeq so unread counts stay exact. Returns the tombstone.
    """
    room, current = _locked(message)
    if by is not None and not selectors.may_moderate(room=room, user=by):
        if current.user_id != by.pk:
            raise NotPermitted(
                "Only its author, the room's owner or staff may delete it."
            )
        if not selectors.user_can_enter(room=room, user=by):
            raise NotAllowed("not on this room's whitelist")
    if current.deleted:
        frame = selectors.message_state(room=room, message_id=current.pk)
        assert frame is not None
        return frame
    _keep_version(current)
    Reaction.objects.filter(message_id=current.pk).delete()
    mentioned = list(
        Mention.objects.filter(message_id=current.pk).values_list("user_id", flat=True)
    )
    Mention.objects.filter(message_id=current.pk).delete()
    mentions_withdraw(message=current, room=room, user_ids=mentioned)
    # Unread counts subtract the seqs of deleted messages (chat.selectors).
    DeletedSeq.objects.get_or_create(room_id=room.pk, seq=current.seq)
    return _stamp(room, current, body="", deleted=True)


@transaction.atomic
def reaction_toggle(
    *, message: Message, user: Any, emoji: str, on: bool | None = None
) -> Frame:
    """Put (`on` True), take back (False) or toggle (None) the user's `emoji` on a message.

    Anyone who may enter the room reacts; at most REACTIONS_MAX distinct emoji per
    message. Raises NotAllowed, MessageDeleted, TooManyReactions, MessageGone, RoomArchived or
    ValidationError (`emoji`). Returns the message's current state.
    """
    try:
        emoji = clean_emoji(emoji)
    except ValueError as exc:
        raise ValidationError({"emoji": str(exc)}) from None
    room, current = _locked(message)
    if room.archived is not None:
        raise RoomArchived()
    if not selectors.user_can_enter(room=room, user=user):
        raise NotAllowed("not on this room's whitelist")
    if current.deleted:
        raise MessageDeleted()
    mine = Reaction.objects.filter(message_id=current.pk, user_id=user.pk, emoji=emoji)
    present = mine.exists()
    want = (not present) if on is None else on
    if want == present:
        frame = selectors.message_state(room=room, message_id=current.pk)
        assert frame is not None
        return frame
    if want:
        emojis = set(
            Reaction.objects.filter(message_id=current.pk).values_list(
                "emoji", flat=True
            )
        )
        if emoji not in emojis and len(emojis) >= REACTIONS_MAX:
            raise TooManyReactions()
        Reaction.objects.create(message_id=current.pk, user_id=user.pk, emoji=emoji)
    else:
        mine.delete()
    return _stamp(room, current)
