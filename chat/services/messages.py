"""Messages: stored by group commit with a gapless per-room seq, and broadcast.

Every path (socket, REST, commands, admin) stores through messages_create, so they share
its rules; each message is published to its room after the commit that stored it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from chat import signals
from chat.errors import ChatError, NotAllowed, RoomArchived, RoomGone
from chat.models import Membership, Message, Room
from chat.schemas import (
    CLIENT_ID_MAX,
    clean_body,
    message_frame,
    system_frame,
)
from chat.services.activity import activity_events, mentions_store
from chat.services.reads import pointers_after_send
from chat.topics import chat_all_group, chat_room_group
from realtime.fanout import broadcast
from realtime.fanout.events import Event
from realtime.registry import sql
from realtime.socket.frames import dumps, now_iso


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


@dataclass(frozen=True, slots=True)
class Send:
    """One message to store: who posts what where (the input of messages_create)."""

    room: Room
    user: Any
    body: str
    client_id: str | None = None
    #: the id of the message this one answers (one of the same room)
    reply_to: int | None = None


#: What messages_create answers for one Send: (message, created), or the refusal.
Outcome = tuple[Message, bool] | ChatError | ValidationError


def message_create(
    *,
    room: Room,
    user: Any,
    body: str,
    client_id: str | None = None,
    reply_to: int | None = None,
) -> tuple[Message, bool]:
    """Store a message with the room's next seq and deliver it after commit; (message, created).

    The one road for the socket, REST and commands (a batch of one: see messages_create).
    A resend with the same `client_id` finds the original and stores nothing (created
    False, no event). `reply_to`: the id of a message of the same room it answers.
    Raises RoomGone, NotAllowed, RoomArchived or ValidationError.
    """
    outcome = messages_create([Send(room, user, body, client_id, reply_to)])[0]
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def messages_create(sends: Sequence[Send]) -> list[Outcome]:
    """Store many messages in one transaction (group commit); an outcome per send, in order.

    The rooms are locked first, in id order (PostgreSQL: SELECT ... FOR UPDATE; SQLite:
    the IMMEDIATE transaction holds the write lock), so concurrent writers queue: seq has
    no gap and no duplicate. Each room's counter moves once per batch and the messages go
    in with one INSERT, so a busy process pays a handful of queries per batch, not per
    message. A refusal (bad body, room gone, not whitelisted) is that send's outcome and
    leaves the others alone.

    Resends are rare (a client retrying after a reconnect), so the first attempt does not
    look for them: the unique (user, room, client_id) index catches one, the transaction
    rolls back whole, and the batch runs again looking every client_id up first. If
    that still hits a constraint, each send goes alone, so one never sinks its neighbours.
    """
    for look_up_resends in (False, True):
        try:
            with transaction.atomic():
                return _store_batch(sends, look_up_resends=look_up_resends)
        except IntegrityError:
            if look_up_resends and len(sends) == 1:
                raise
    outcomes: list[Outcome] = []
    for send in sends:
        with transaction.atomic():
            outcomes.extend(_store_batch([send], look_up_resends=True))
    return outcomes


def _store_batch(sends: Sequence[Send], *, look_up_resends: bool) -> list[Outcome]:
    outcomes: list[Outcome | None] = [None] * len(sends)
    cleaned: list[tuple[int, Send, str, str | None]] = []
    for i, send in enumerate(sends):
        try:
            body = clean_body(send.body)
        except ValueError as exc:
            outcomes[i] = ValidationError({"body": str(exc)})
            continue
        try:
            client_id = _clean_client_id(send.client_id)
        except ValidationError as exc:
            outcomes[i] = exc
            continue
        cleaned.append((i, send, body, client_id))
    if not cleaned:
        return outcomes  # type: ignore[return-value]

    room_ids = sorted({send.room.pk for _, send, _, _ in cleaned})
    state = {
        pk: [last_seq, is_private, kind, archived]
        for pk, last_seq, is_private, kind, archived in Room.objects.select_for_update()
        .filter(pk__in=room_ids)
        .order_by("pk")
        .values_list("pk", "last_seq", "is_private", "kind", "archived")
    }
    originals = _originals(cleaned) if look_up_resends else {}
    members = _whitelisted(cleaned, state)
    answered = _answered(cleaned)

    pending: list[tuple[int, Send, Message]] = []
    batch_keys: dict[tuple[int, int, str], Message] = {}
    # A client_id twice in the one batch: the second gets the first's message.
    repeats: list[tuple[int, tuple[int, int, str]]] = []
    for i, send, body, client_id in cleaned:
        room_id, user_id = send.room.pk, send.user.pk
        if room_id not in state:
            outcomes[i] = RoomGone(send.room.slug)
            continue
        key = (room_id, user_id, client_id) if client_id is not None else None
        if key is not None and key in originals:
            original = originals[key]
            original.room = send.room
            outcomes[i] = (original, False)
            continue
        if key is not None and key in batch_keys:
            repeats.append((i, key))
            continue
        if state[room_id][1] and (room_id, user_id) not in members:
            outcomes[i] = NotAllowed("not on this room's whitelist")
            continue
        if state[room_id][3] is not None:
            outcomes[i] = RoomArchived(f"{send.room.slug} is archived: read-only")
            continue
        target = None
        if send.reply_to is not None:
            target = answered.get(send.reply_to)
            if target is None or target.room_id != room_id:
                outcomes[i] = ValidationError(
                    {"reply_to": "not a message of this room"}
                )
                continue
        state[room_id][0] += 1
        message = Message(
            room=send.room,
            user=send.user,
            seq=state[room_id][0],
            body=body,
            client_id=client_id,
            reply_to=target,
        )
        if key is not None:
            batch_keys[key] = message
        pending.append((i, send, message))

    if pending:
        stored = [message for _, _, message in pending]
        Message.objects.bulk_create(stored)
        _bump_counters({send.room.pk for _, send, _ in pending}, state)
        rooms = {send.room.pk: send.room for _, send, _ in pending}
        read_events = pointers_after_send(
            sent=[(send.room, send.user.pk, m.seq) for _, send, m in pending],
            last_seqs={pk: state[pk][0] for pk in rooms},
            public_rooms={pk for pk in rooms if state[pk][2] == Room.Kind.PUBLIC},
        )
        mentions_store(
            messages=stored, private_rooms={pk for pk in rooms if state[pk][1]}
        )
        # In this transaction: a webhook's outbox row commits with the messages.
        signals.messages_stored.send(sender=Message, messages=stored)
        # One hop after commit: the rooms' frames, then the senders' read pointers, then
        # the members' activity (each text encoded once, whatever the recipients).
        broadcast.publish_events(
            [
                *(
                    (
                        chat_room_group(send.room.pk),
                        Event(
                            text=dumps(
                                message_frame(message, room_slug=send.room.slug)
                            ),
                            kind="message",
                            seq=message.seq,
                        ),
                    )
                    for _, send, message in pending
                ),
                *read_events,
                *activity_events(messages=stored, rooms=rooms),
            ]
        )
        for i, send, message in pending:
            outcomes[i] = (message, True)
            send.room.last_seq = state[send.room.pk][0]
    for i, key in repeats:
        outcomes[i] = (batch_keys[key], False)
    return outcomes  # type: ignore[return-value]


def _originals(
    cleaned: Sequence[tuple[int, Send, str, str | None]],
) -> dict[tuple[int, int, str], Message]:
    """The stored messages the batch's client_ids already name, by (room, user, client_id)."""
    keys = {
        (send.room.pk, send.user.pk, client_id)
        for _, send, _, client_id in cleaned
        if client_id is not None
    }
    if not keys:
        return {}
    # The unique (user, room, client_id) index answers; the IN lists may over-fetch a
    # little (another user's id in another room), and the key match below drops that.
    # reply_to's author too: a resend's frame is built on the event loop (no query).
    rows = (
        Message.objects.select_related("user", "reply_to__user")
        .filter(
            user_id__in={k[1] for k in keys},
            room_id__in={k[0] for k in keys},
            client_id__in={k[2] for k in keys},
        )
        .order_by()
    )
    found = {(m.room_id, m.user_id, m.client_id): m for m in rows}
    return {k: m for k, m in found.items() if k in keys}


def _answered(
    cleaned: Sequence[tuple[int, Send, str, str | None]],
) -> dict[int, Message]:
    """The messages the batch's replies answer, by id, their authors loaded (a reply's
    frame shows its target: built once, on the hot path, with no further query)."""
    ids = {send.reply_to for _, send, _, _ in cleaned if send.reply_to is not None}
    if not ids:
        return {}
    return {m.pk: m for m in Message.objects.select_related("user").filter(pk__in=ids)}


def _whitelisted(
    cleaned: Sequence[tuple[int, Send, str, str | None]],
    state: dict[int, list[Any]],
) -> set[tuple[int, int]]:
    """The (room, user) pairs of the batch's private rooms that are on the whitelist."""
    wanted = {
        (send.room.pk, send.user.pk)
        for _, send, _, _ in cleaned
        if send.room.pk in state and state[send.room.pk][1]
    }
    if not wanted:
        return set()
    rows = Membership.objects.filter(
        room_id__in={k[0] for k in wanted}, user_id__in={k[1] for k in wanted}
    ).values_list("room_id", "user_id")
    return set(rows) & wanted


def _bump_counters(room_ids: set[int], state: dict[int, list[Any]]) -> None:
    """Write each room's new last_seq, one statement for the whole batch.

    Raw SQL: the ORM's CASE/WHEN update cost more than the rest of the batch together.
    executemany is one round trip on psycopg 3 (pipelined) and a C loop on SQLite.
    """
    statement = (
        f"UPDATE {sql.table(Room)} SET {sql.column(Room, 'last_seq')} = %s"
        f" WHERE {sql.column(Room, 'id')} = %s"
    )
    with connection.cursor() as cursor:
        cursor.executemany(statement, [(state[pk][0], pk) for pk in sorted(room_ids)])


def system_broadcast(*, body: str, room: Room | None = None) -> dict[str, Any]:
    """A `system` frame to one room's sockets, or to every chat socket (room None).

    Returns the frame sent (it is not stored: a system message has no seq).
    """
    body = body.strip()
    if not body:
        raise ValidationError({"body": "body is empty"})
    topic = chat_room_group(room.pk) if room is not None else chat_all_group()
    frame = system_frame(body, ts=now_iso())
    with transaction.atomic():
        broadcast.publish(topic, frame)
    return frame
