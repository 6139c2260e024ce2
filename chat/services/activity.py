"""What a new message sets off besides its room's frame: mentions and activity.

Both run inside the group commit's transaction (messages._store_batch), once per batch:

- Mentions: `@username` in a body, of an active user who may read the room and is not
  the author, is stored as a Mention row (one INSERT for the batch; the unread selector
  counts them) and notified (notifications' bulk service, one per message that mentions
  someone), with a link to the room at that seq.
- Activity: each message is encoded once as an `activity` frame and published once, on
  its room's activity topic (chat.topics.chat_activity_topic); nothing per member, no
  query. Who gets it is who follows that topic: every notify socket of a user who
  belongs to the room (notifications.consumers). A notify socket takes the topics of
  its user's rooms at its handshake, before the welcome's `rooms` are read (one query,
  belonging_room_ids; at most ACTIVITY_ROOMS_MAX of them), and is kept in step by
  FOLLOW and UNFOLLOW orders (follow_events) that the services publish after commit on
  the user's notify topic, so on every process: joining or leaving a public room, a
  first message in a public room (which joins it), a whitelist grant or revoke on a
  private room, a new direct room, a room's change of kind or owner; a deleted room's
  topic is told to disband (activity_close). The orders are internal events, never
  sent to a client.

  Before (issue 15): one hand-off per member per message to each member's notify
  topic, the members read in the storing transaction. Measured with 1,000 members and
  stub sockets, 1.4 to 2.6 ms per message against 0.25 ms for one topic of 1,000
  subscribers (the sockets' own sends cost the same either way), and in cluster mode
  one relay item and one Redis PUBLISH per member per message instead of one. The
  bench's `fanout_activity` scenario (docs/scaling.md, section 2), 300 members each
  with a chat and a notify socket, cluster mode, a shared loaded machine: server CPU
  per message 45, 36 and 29 ms at 10, 20 and 30 msgs/s before, 13, 14 and 12 ms now;
  saturation 30 msgs/s before, 40 now. Embedded mode gains less (no relay): 14.5 to
  12.5 ms per message at 20 msgs/s.

  The bounds this costs, both about the moment belonging changes: an order is carried
  out when it reaches the socket, so (1) a message committed after a revoke or a leave
  and before the UNFOLLOW reaches the user's notify socket still comes as one activity
  frame (slug, seq, author, 140-character preview): in one process that window is the
  few microseconds between the revoke's commit and its on-commit hand-off to the
  loop; in cluster mode it is the relay's latency between processes (milliseconds,
  at worst the relay's LAYER_TIMEOUT); a message committed before the revoke, which
  they could read, may arrive after it either way. The chat socket's 4403 close and
  every read check (history, REST, search) are unchanged: the window is the preview
  only. (2) A message committed right after a join, before the FOLLOW is carried out
  (one loop turn; in cluster mode the group join's round trip to Redis), does not
  come as activity; it is in the sidebar's `unread` (REST, and the next welcome).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from django.contrib.auth import get_user_model

from chat.models import Joined, Membership, Mention, Message, Room
from chat.schemas import activity_frame, preview_of
from chat.topics import FOLLOW, UNFOLLOW, chat_activity_topic
from notifications.models import Notification
from notifications.services import notifications_create_bulk, notifications_withdraw
from notifications.topics import notify_topic
from realtime.fanout import broadcast
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
        mentions_withdraw(message=message, room=room, user_ids=gone)
    kept = had & set(wanted)
    if kept:
        # The notification's preview follows the body: an edit that took a secret out
        # takes it out of the notification too.
        Notification.objects.filter(
            user_id__in=kept,
            link=room_link(room.slug, message.seq),
            title=_title(message),
        ).update(body=preview_of(message.body))
    added = [row for user_id, row in wanted.items() if user_id not in had]
    if added:
        Mention.objects.bulk_create(added)
        _notify([message], added)


def mentions_withdraw(*, message: Message, room: Room, user_ids: Iterable[int]) -> None:
    """The mention notifications of `message` to these users, taken back (a delete, or
    an edit that no longer names them): no copy of the text stays in their bell."""
    notifications_withdraw(
        user_ids=user_ids, link=room_link(room.slug, message.seq), title=_title(message)
    )


def _title(message: Message) -> str:
    return f"{message.user.get_username()} mentioned you"


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
                title=_title(message),
                body=preview_of(message.body),
                link=room_link(message.room.slug, message.seq),
            )


def activity_events(
    *, messages: Sequence[Message], rooms: dict[int, Room]
) -> list[tuple[str, Event]]:
    """Each message's `activity` frame, once, on its room's activity topic.

    No query and nothing per member: who gets it is who follows the topic (see the
    module docstring). The caller publishes the events after commit with the batch's
    others.
    """
    return [
        (
            chat_activity_topic(message.room_id),
            Event(
                text=dumps(
                    activity_frame(message, room_slug=rooms[message.room_id].slug)
                ),
                kind="activity",
            ),
        )
        for message in messages
    ]


def follow_events(
    *, room_id: int, user_ids: Iterable[int], follow: bool = True
) -> list[tuple[str, Event]]:
    """The FOLLOW (or UNFOLLOW) order of a room's activity topic for each user.

    On each user's notify topic, so every notify socket of theirs, on every process,
    takes the room's activity topic or leaves it; internal, never sent to a client.
    """
    event = Event(
        text=chat_activity_topic(room_id),
        kind=FOLLOW if follow else UNFOLLOW,
        order=True,
    )
    return [(notify_topic(user_id), event) for user_id in sorted(set(user_ids))]


def activity_follow(
    *, room_id: int, user_ids: Iterable[int], follow: bool = True
) -> None:
    """After commit: these users start (`follow=False`: stop) belonging to the room,
    as far as their notify sockets' activity frames go (see follow_events)."""
    broadcast.publish_events(
        follow_events(room_id=room_id, user_ids=user_ids, follow=follow)
    )


def activity_close(*, room_id: int) -> None:
    """After commit: every notify socket on the room's activity topic leaves it (the
    room is gone; nothing more comes there, so its sockets need not hold it)."""
    topic = chat_activity_topic(room_id)
    broadcast.publish_events([(topic, Event(text=topic, kind=UNFOLLOW, order=True))])


def belonging_user_ids(*, room_id: int, kind: str) -> set[int]:
    """Who belongs to a room of `kind` (joined public; whitelisted otherwise)."""
    rows = Joined if kind == Room.Kind.PUBLIC else Membership
    return set(rows.objects.filter(room_id=room_id).values_list("user_id", flat=True))
