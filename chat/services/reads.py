"""Read pointers: how far each user has read each room; they only move forward.

A pointer never passes the room's `last_seq`, and storing a message moves its sender's
pointer to it (messages._store_batch calls pointers_after_send in the same transaction).
After any move, every socket of the user (chat and notify, through the user topic) gets
`{"type":"read","room","seq","unread"}`, after the commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from chat import selectors
from chat.models import Joined, ReadPointer, Room
from chat.schemas import read_frame
from chat.services.activity import follow_events
from realtime.fanout import broadcast
from realtime.fanout.events import Event
from realtime.fanout.topics import user_topic
from realtime.socket.frames import dumps


@transaction.atomic
def read_pointer_move(*, room: Room, user: Any, seq: int) -> tuple[int, int]:
    """Move `user`'s pointer in `room` forward to `seq` (at most the room's last seq).

    Returns (pointer, unread) after the move. A `seq` at or behind the pointer changes
    nothing and sends nothing; a move sends the `read` frame to all the user's sockets.
    """
    last_seq = Room.objects.filter(pk=room.pk).values_list("last_seq", flat=True)
    target = min(max(int(seq), 0), last_seq.first() or 0)
    # One conditional UPDATE: two concurrent moves can only both go forward.
    behind = ReadPointer.objects.filter(
        room_id=room.pk, user_id=user.pk, seq__lt=target
    )
    moved = bool(behind.update(seq=target))
    if not moved:
        # No pointer yet counts as 0: creating one at 0 moves nothing.
        _, created = ReadPointer.objects.get_or_create(
            room_id=room.pk, user_id=user.pk, defaults={"seq": target}
        )
        # Lost a race to create it (at a smaller seq, maybe): move that one.
        moved = (created and target > 0) or (
            not created and bool(behind.update(seq=target))
        )
    pointer, unread = selectors.read_state(room_id=room.pk, user_id=user.pk)
    if moved:
        broadcast.publish(
            user_topic(user.pk),
            read_frame(room_slug=room.slug, seq=pointer, unread=unread),
        )
    return pointer, unread


def read_pointer_start(*, room: Room, user: Any) -> None:
    """Give `user` a pointer at the room's last seq unless they have one.

    Joining a room (or being whitelisted) does not make its past "unread".
    """
    last_seq = Room.objects.filter(pk=room.pk).values_list("last_seq", flat=True)
    ReadPointer.objects.get_or_create(
        room_id=room.pk, user_id=user.pk, defaults={"seq": last_seq.first() or 0}
    )


def pointers_after_send(
    *,
    sent: Iterable[tuple[Room, int, int]],
    last_seqs: dict[int, int],
    public_rooms: set[int],
) -> list[tuple[str, Event]]:
    """In the storing transaction: each sender's pointer moves to their newest message.

    `sent`: (room, user id, seq) of every message stored in the batch. One upsert for
    all pointers, one insert joining the public rooms the senders posted in, and a `read`
    frame per (room, sender), returned for the caller to publish with the batch's other
    events: its `unread` is the messages after theirs in the batch (none before it can
    be unread, and none after it is theirs or deleted yet).
    """
    newest: dict[tuple[int, int], tuple[Room, int]] = {}
    for room, user_id, seq in sent:
        key = (room.pk, user_id)
        if key not in newest or newest[key][1] < seq:
            newest[key] = (room, seq)
    if not newest:
        return []
    # The batch holds the rooms' locks and every earlier pointer is at most the old
    # last_seq, so overwriting is moving forward.
    ReadPointer.objects.bulk_create(
        [
            ReadPointer(room_id=room_id, user_id=user_id, seq=seq)
            for (room_id, user_id), (_, seq) in newest.items()
        ],
        update_conflicts=True,
        unique_fields=["user", "room"],
        update_fields=["seq", "updated"],
    )
    wanted = {
        (room_id, user_id) for room_id, user_id in newest if room_id in public_rooms
    }
    follows: list[tuple[str, Event]] = []
    if wanted:
        # Read first (senders mostly belong already): only a new member's notify
        # sockets are told to take the room's activity topic.
        have = set(
            Joined.objects.filter(
                room_id__in={r for r, _ in wanted}, user_id__in={u for _, u in wanted}
            ).values_list("room_id", "user_id")
        )
        joins = sorted(wanted - have)
        if joins:
            Joined.objects.bulk_create(
                [Joined(room_id=r, user_id=u) for r, u in joins], ignore_conflicts=True
            )
            for room_id, user_id in joins:
                follows += follow_events(room_id=room_id, user_ids=(user_id,))
    return follows + [
        (
            user_topic(user_id),
            Event(
                text=dumps(
                    read_frame(
                        room_slug=room.slug, seq=seq, unread=last_seqs[room_id] - seq
                    )
                ),
                kind="read",
            ),
        )
        for (room_id, user_id), (room, seq) in newest.items()
    ]
