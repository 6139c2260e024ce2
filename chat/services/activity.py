"""What a new message sets off besides its room's frame: mentions and activity.

Both run inside the group commit's transaction (messages._store_batch), once per batch:

- Mentions: `@username` in a body, of an active user who may read the room and is not
  the author, is stored as a Mention row (one INSERT for the batch; the unread selector
  counts them) and notified (notifications' bulk service, one per message that mentions
  someone), with a link to the room at that seq.
- Activity: each message is encoded once as an `activity` frame, and that one text goes
  to the notify topic of every user who belongs to the room (one query for the batch's
  rooms). Per-user topics, not a per-room activity topic: belonging is read in the
  transaction that stores the message, so a user who left a room or was taken off its
  whitelist gets nothing more at once, with no subscription to keep in step on every
  process. The cost is one hub hand-off per member per message (the encoding is
  shared): measured with 1,000 members and stub sockets, 1.4 to 2.6 ms per message
  against 0.25 ms for one topic of 1,000 subscribers, about 1 us of each hand-off being
  the hub's BROADCAST_SECONDS observation; the sockets' own sends cost the same either
  way. In cluster mode it is also one relay item per member (a group_send per member
  topic per relay batch): that is where a per-room activity topic, subscribed at the
  notify handshake and kept in step on join, leave and whitelist changes, would win.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.contrib.auth import get_user_model

from chat.models import Joined, Membership, Mention, Message, Room
from chat.schemas import activity_frame, preview_of
from notifications.services import notifications_create_bulk
from notifications.topics import notify_topic
from realtime.fanout.events import Event
from realtime.socket.frames import dumps

#: `@name` not preceded by a word character or `@` (so e-mail addresses do not count)
MENTION = re.compile(r"(?<![\w@])@([\w.+-]{1,150})")


#: the most distinct `@names` one message is looked up for (a body of 4,000
#: characters could name ~1,000 and notify them all)
MENTIONS_MAX = 50


def mentioned_names(body: str) -> set[str]:
    """The usernames a body may mention (a trailing `.` or `-` may end the sentence).

    The first MENTIONS_MAX distinct ones only.
    """
    names: set[str] = set()
    for match in MENTION.finditer(body):
        name = match.group(1)
        if len(names) >= 2 * MENTIONS_MAX:
            break
        names.add(name)
        names.add(name.rstrip(".-+"))
    names.discard("")
    return names


def room_link(slug: str, seq: int) -> str:
    """Where a mention points: the room's page at that message."""
    return f"/rooms/{slug}/?seq={int(seq)}"


def mentions_store(*, messages: Sequence[Message], private_rooms: set[int]) -> None:
    """Store and notify the mentions of a batch's messages (see the module docstring)."""
    rows = _mention_rows(messages, private_rooms)
    if not rows:
        return
    Mention.objects.bulk_create(rows)
    _notify(messages, rows)


def mentions_restate(*, message: Message, room: Room) -> None:
    """After an edit: the message's mentions are those of its new body, exactly.

    A user no longer named loses the mention (their `mentions` count drops); a user
    named anew gets the Mention row and one notification, as for a new message; a user
    named before and after keeps theirs and is not notified again.
    """
    private = {room.pk} if room.is_private else set()
    wanted = {row.user_id: row for row in _mention_rows([message], private)}
    had = set(Mention.objects.filter(message=message).values_list("user_id", flat=True))
    gone = had - set(wanted)
    if gone:
        Mention.objects.filter(message=message, user_id__in=gone).delete()
    added = [row for user_id, row in wanted.items() if user_id not in had]
    if added:
        Mention.objects.bulk_create(added)
        _notify([message], added)


def _mention_rows(
    messages: Sequence[Message], private_rooms: set[int]
) -> list[Mention]:
    """The Mention rows the bodies call for (readers of the room, not the author)."""
    wanted = {m.pk: mentioned_names(m.body) for m in messages if "@" in m.body}
    names = set().union(*wanted.values()) if wanted else set()
    if not names:
        return []
    user_model = get_user_model()
    ids = dict(
        user_model.objects.filter(
            **{f"{user_model.USERNAME_FIELD}__in": names}, is_active=True
        ).values_list(user_model.USERNAME_FIELD, "pk")
    )
    if not ids:
        return []
    whitelisted = set(
        Membership.objects.filter(
            room_id__in=private_rooms, user_id__in=ids.values()
        ).values_list("room_id", "user_id")
    )
    rows: list[Mention] = []
    for message in messages:
        users = {ids[n] for n in wanted.get(message.pk, ()) if n in ids}
        users.discard(message.user_id)
        if message.room_id in private_rooms:
            users = {u for u in users if (message.room_id, u) in whitelisted}
        rows.extend(
            Mention(
                message=message, room_id=message.room_id, seq=message.seq, user_id=u
            )
            for u in sorted(users)
        )
    return rows


def _notify(messages: Sequence[Message], rows: Sequence[Mention]) -> None:
    """One notification per mentioned user, linking to the message."""
    by_message: dict[int, list[int]] = {}
    for row in rows:
        by_message.setdefault(row.message_id, []).append(row.user_id)
    for message in messages:
        if message.pk in by_message:
            notifications_create_bulk(
                user_ids=by_message[message.pk],
                title=f"{message.user.get_username()} mentioned you",
                body=preview_of(message.body),
                link=room_link(message.room.slug, message.seq),
            )


def activity_events(
    *, messages: Sequence[Message], rooms: dict[int, Room], kinds: dict[int, str]
) -> list[tuple[str, Event]]:
    """Each message's `activity` frame for everyone who belongs to its room.

    `kinds`: each room's kind, as the batch read it under the rooms' locks. The caller
    publishes the events after commit with the batch's others.
    """
    public = [pk for pk, kind in kinds.items() if kind == Room.Kind.PUBLIC]
    others = [pk for pk, kind in kinds.items() if kind != Room.Kind.PUBLIC]
    members: dict[int, list[int]] = {}
    if public:
        for room_id, user_id in Joined.objects.filter(room_id__in=public).values_list(
            "room_id", "user_id"
        ):
            members.setdefault(room_id, []).append(user_id)
    if others:
        for room_id, user_id in Membership.objects.filter(
            room_id__in=others
        ).values_list("room_id", "user_id"):
            members.setdefault(room_id, []).append(user_id)
    items: list[tuple[str, Event]] = []
    for message in messages:
        users = members.get(message.room_id)
        if not users:
            continue
        event = Event(
            text=dumps(activity_frame(message, room_slug=rooms[message.room_id].slug)),
            kind="activity",
        )
        items.extend((notify_topic(user_id), event) for user_id in users)
    return items
