"""Reads of the chat app: access, history, members, who is online, my rooms and counts.

Unread counts are seq arithmetic, exact and cheap (PROTOCOL.md 9). Seqs are gapless, and
storing a message moves its sender's read pointer to it, so every seq after a user's
pointer is someone else's message, and

    unread = room.last_seq - pointer - (deleted seqs after the pointer)

needs no scan of messages: a read of the pointers, of the room counters, and a grouped
count over DeletedSeq (rare rows). `mentions` is a grouped count of the user's Mention
rows after each pointer (the index (user, room, seq) answers it; a deleted message takes
its Mention rows with it). A sidebar of 200 rooms is a handful of queries whatever the
number of messages (measured: `manage.py bench_my_rooms`, docs/protocol.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from chat.models import (
    AnnouncedPresence,
    DeletedSeq,
    Joined,
    Membership,
    Mention,
    Message,
    MessageVersion,
    Reaction,
    ReadPointer,
    Room,
)
from chat.schemas import (
    REACTION_USERS_MAX,
    Frame,
    message_row_frame,
    preview_of,
    reactions_out,
    user_out,
)
from chat.topics import ROUTE
from realtime.registry import sql
from realtime.registry.models import Connection
from realtime.socket.frames import iso

HISTORY_LAST = 50
HISTORY_SINCE_MAX = 500
#: how many changed messages a welcome's `changes` holds (PROTOCOL.md 10)
CHANGES_MAX = 500
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


def direct_peer(*, room: Room, user: Any) -> Any | None:
    """The other user of a direct room, for its page's name; None for other kinds."""
    if room.kind != Room.Kind.DIRECT or not room.direct_key:
        return None
    low, _, high = room.direct_key.partition(":")
    other = high if low == str(user.pk) else low
    return (
        get_user_model().objects.filter(pk=int(other)).first()
        if other.isdigit()
        else None
    )


def may_moderate(*, room: Room, user: Any) -> bool:
    """The room's owner and staff may delete anyone's message and read its versions."""
    return bool(user.is_staff) or (
        room.owner_id is not None and room.owner_id == user.pk
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
ACCESS_FIELDS = (
    "id",
    "slug",
    "name",
    "is_private",
    "kind",
    "owner",
    "last_seq",
    "topic",
    "archived",
)


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


def rooms_access(
    *, requests: list[tuple[str, int]]
) -> dict[tuple[str, int], RoomAccess]:
    """room_access() of many (slug, user id) pairs in two queries: a handshake batch's.

    One query for the rooms, one for the whitelist rows of the private ones among them;
    the sockets of one room in a batch share its Room instance.
    """
    slugs = sorted({slug for slug, _ in requests})
    if not slugs:
        return {}
    rows = sql.fetchall(
        f"SELECT {sql.columns(Room, ACCESS_FIELDS)} FROM {sql.table(Room)}"
        f" WHERE {sql.column(Room, 'slug')} IN ({sql.placeholders(len(slugs))})",
        slugs,
    )
    rooms = {
        room.slug: room for room in (sql.instance(Room, ACCESS_FIELDS, r) for r in rows)
    }
    private = sorted({room.pk for room in rooms.values() if room.is_private})
    users = sorted({user_id for slug, user_id in requests if slug in rooms})
    members: set[tuple[int, int]] = set()
    if private and users:
        members = {
            (room_id, user_id)
            for room_id, user_id in sql.fetchall(
                f"SELECT {sql.column(Membership, 'room')}, {sql.column(Membership, 'user')}"
                f" FROM {sql.table(Membership)}"
                f" WHERE {sql.column(Membership, 'room')}"
                f" IN ({sql.placeholders(len(private))})"
                f" AND {sql.column(Membership, 'user')} IN ({sql.placeholders(len(users))})",
                [*private, *users],
            )
        }
    found: dict[tuple[str, int], RoomAccess] = {}
    for slug, user_id in requests:
        room = rooms.get(slug)
        found[slug, user_id] = (
            RoomAccess(None, False)
            if room is None
            else RoomAccess(room, not room.is_private or (room.pk, user_id) in members)
        )
    return found


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


def _message_select() -> tuple[str, str]:
    """The SELECT list of MESSAGE_ROW and the FROM with the author's join, in raw SQL."""
    user_model = get_user_model()
    m, u = sql.table(Message), sql.table(user_model)
    select = ", ".join(
        [
            *(f"{m}.{sql.column(Message, f)}" for f in ("id", "seq", "user")),
            f"{u}.{sql.column(user_model, user_model.USERNAME_FIELD)}",
            *(
                f"{m}.{sql.column(Message, f)}"
                for f in (
                    "body",
                    "created",
                    "client_id",
                    "rev",
                    "edited",
                    "deleted",
                    "reply_to",
                )
            ),
        ]
    )
    joined = (
        f"{m} INNER JOIN {u}"
        f" ON {u}.{sql.column(user_model, user_model._meta.pk.name)}"
        f" = {m}.{sql.column(Message, 'user')}"
    )
    return select, joined


def _converted(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Raw MESSAGE_ROW rows with their times (and SQLite's 0/1 booleans) as Python's."""
    created = sql.converter(Message, "created")
    edited = sql.converter(Message, "edited")
    return [
        (
            *row[:5],
            created(row[5]),
            row[6],
            row[7],
            edited(row[8]) if row[8] is not None else None,
            bool(row[9]),
            row[10],
        )
        for row in rows
    ]


def reactions_of(message_ids: list[int]) -> dict[int, list[Frame]]:
    """The `reactions` of these messages, in one query that reads at most
    REACTION_USERS_MAX rows per message and emoji (the database counts the rest): a
    message liked by 5,000 costs a page what one liked by 100 does."""
    if not message_ids:
        return {}
    per_emoji = [F("message_id"), F("emoji")]
    rows = (
        Reaction.objects.filter(message_id__in=message_ids)
        .annotate(
            rank=Window(RowNumber(), partition_by=per_emoji, order_by=F("id").asc()),
            total=Window(Count("id"), partition_by=per_emoji),
        )
        .filter(rank__lte=REACTION_USERS_MAX)
        .order_by("id")
        .values_list("message_id", "emoji", "user_id", "total")
    )
    return reactions_out(rows)


def decorations(
    rows: list[tuple[Any, ...]],
) -> tuple[dict[int, list[Frame]], dict[int, Frame]]:
    """The reactions and `reply_to` objects of a page of MESSAGE_ROW rows.

    At most one query each for the whole page, and none when no message of it can have
    any: every reaction stamps its message's rev, so a message with rev 0 has none
    (most pages: nothing changed), and only answers have a reply_to.
    """
    changed = [row[0] for row in rows if row[7] and not row[9]]
    reactions = reactions_of(changed)
    targets = {row[10] for row in rows if row[10] is not None and not row[9]}
    replies: dict[int, Frame] = {}
    if targets:
        for msg_id, seq, user_id, username, body, deleted in Message.objects.filter(
            pk__in=targets
        ).values_list("id", "seq", "user_id", "user__username", "body", "deleted"):
            replies[msg_id] = {
                "id": msg_id,
                "seq": seq,
                "user": user_out(user_id, username),
                "preview": "" if deleted else preview_of(body),
            }
    return reactions, replies


def message_frames(rows: list[tuple[Any, ...]], *, room_slug: str) -> list[Frame]:
    """Converted MESSAGE_ROW rows as message frames, their decorations fetched once."""
    reactions, replies = decorations(rows)
    return [
        message_row_frame(
            row, room_slug=room_slug, reactions=reactions, replies=replies
        )
        for row in rows
    ]


def messages_page(
    *, room: Room, after: int | None = None, before: int | None = None, limit: int
) -> tuple[list[Frame], bool]:
    """Up to `limit` messages ascending by seq, and whether more lie beyond the page.

    `after` pages forward (the oldest after it first); `before` alone pages back (the
    newest before it); neither gives the newest `limit`. Prepared SQL: every welcome
    runs it.
    """
    m = sql.table(Message)
    seq = f"{m}.{sql.column(Message, 'seq')}"
    where = [f"{m}.{sql.column(Message, 'room')} = %s"]
    params: list[Any] = [room.pk]
    if after is not None:
        where.append(f"{seq} > %s")
        params.append(after)
    if before is not None:
        where.append(f"{seq} < %s")
        params.append(before)
    select, joined = _message_select()
    rows = sql.fetchall(
        f"SELECT {select} FROM {joined}"
        f" WHERE {' AND '.join(where)}"
        f" ORDER BY {seq} {'ASC' if after is not None else 'DESC'} LIMIT %s",
        [*params, limit + 1],
    )
    more = len(rows) > limit
    page = rows[:limit] if after is not None else rows[:limit][::-1]
    return message_frames(_converted(page), room_slug=room.slug), more


def changes_page(
    *, room: Room, rev: int, through_seq: int | None = None, limit: int
) -> tuple[list[Frame], bool]:
    """Messages changed after `rev`, oldest change first (by their rev), at most `limit`,
    and whether more follow. `through_seq`: only those with seq at or before it.

    The cursor of the next page is the last one's `rev` (revs are unique in a room:
    each change bumps the room's counter under its lock).
    """
    m = sql.table(Message)
    message_rev = f"{m}.{sql.column(Message, 'rev')}"
    where = [f"{m}.{sql.column(Message, 'room')} = %s", f"{message_rev} > %s"]
    params: list[Any] = [room.pk, rev]
    if through_seq is not None:
        where.append(f"{m}.{sql.column(Message, 'seq')} <= %s")
        params.append(through_seq)
    select, joined = _message_select()
    rows = sql.fetchall(
        f"SELECT {select} FROM {joined} WHERE {' AND '.join(where)}"
        f" ORDER BY {message_rev} ASC LIMIT %s",
        [*params, limit + 1],
    )
    more = len(rows) > limit
    return message_frames(_converted(rows[:limit]), room_slug=room.slug), more


def message_get(*, room: Room, message_id: int) -> Message | None:
    """A message of this room (its author and answered message loaded), or None."""
    return (
        Message.objects.select_related("user", "reply_to__user")
        .filter(room_id=room.pk, pk=message_id)
        .first()
    )


def message_state(*, room: Room, message_id: int) -> Frame | None:
    """One message of this room in its current state (the REST detail), or None."""
    m = sql.table(Message)
    select, joined = _message_select()
    rows = sql.fetchall(
        f"SELECT {select} FROM {joined} WHERE {m}.{sql.column(Message, 'room')} = %s"
        f" AND {m}.{sql.column(Message, 'id')} = %s",
        [room.pk, message_id],
    )
    frames = message_frames(_converted(rows), room_slug=room.slug)
    return frames[0] if frames else None


def original_body(*, message: Message) -> str:
    """The body a message was posted with (its oldest version when it changed since):
    what a resend with its client_id must repeat."""
    if not message.rev:
        return message.body
    first = (
        MessageVersion.objects.filter(message_id=message.pk)
        .order_by("id")
        .values_list("body", flat=True)
        .first()
    )
    return first if first is not None else message.body


#: the most earlier bodies one versions answer holds (the newest ones)
VERSIONS_MAX = 100


def message_versions(
    *, message: Message, limit: int = VERSIONS_MAX
) -> tuple[list[Frame], bool]:
    """A message's newest `limit` earlier bodies, oldest first (`{"body","ts",
    "replaced"}` each), and whether older ones were left out: an edit war never makes
    one answer unbounded."""
    rows = list(
        MessageVersion.objects.filter(message_id=message.pk)
        .order_by("-id")
        .values_list("body", "created", "replaced")[: limit + 1]
    )
    more = len(rows) > limit
    return [
        {"body": body, "ts": iso(created), "replaced": iso(replaced)}
        for body, created, replaced in reversed(rows[:limit])
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


def room_revs(*, room_ids: list[int]) -> dict[int, int]:
    """The change counter of each of these rooms as committed now, in one query (a room
    that is gone is left out)."""
    ids = sorted(set(room_ids))
    if not ids:
        return {}
    rows = sql.fetchall(
        f"SELECT {sql.column(Room, 'id')}, {sql.column(Room, 'rev')} FROM {sql.table(Room)}"
        f" WHERE {sql.column(Room, 'id')} IN ({sql.placeholders(len(ids))})",
        ids,
    )
    return {room_id: int(rev) for room_id, rev in rows}


def rooms_last_seq(*, room_ids: list[int]) -> dict[int, int]:
    """The last seq of each of these rooms, as committed now (gone rooms left out)."""
    ids = sorted(set(room_ids))
    if not ids:
        return {}
    rows = sql.fetchall(
        f"SELECT {sql.column(Room, 'id')}, {sql.column(Room, 'last_seq')}"
        f" FROM {sql.table(Room)}"
        f" WHERE {sql.column(Room, 'id')} IN ({sql.placeholders(len(ids))})",
        ids,
    )
    return {room_id: int(last) for room_id, last in rows}


def messages_at(*, wanted: dict[int, list[int]]) -> dict[int, list[Frame]]:
    """The messages of these seqs of these rooms (`{room id: [seq, ...]}`), as they
    are now, by room and seq, in two queries (a room that is gone is left out)."""
    ids = sorted(room_id for room_id, seqs in wanted.items() if seqs)
    if not ids:
        return {}
    slugs = dict(
        sql.fetchall(
            f"SELECT {sql.column(Room, 'id')}, {sql.column(Room, 'slug')}"
            f" FROM {sql.table(Room)}"
            f" WHERE {sql.column(Room, 'id')} IN ({sql.placeholders(len(ids))})",
            ids,
        )
    )
    m = sql.table(Message)
    room, seq = (
        f"{m}.{sql.column(Message, 'room')}",
        f"{m}.{sql.column(Message, 'seq')}",
    )
    where, params = [], []
    for room_id in ids:
        seqs = sorted(set(wanted[room_id]))
        where.append(f"({room} = %s AND {seq} IN ({sql.placeholders(len(seqs))}))")
        params += [room_id, *seqs]
    select, joined = _message_select()
    rows = sql.fetchall(
        f"SELECT {m}.{sql.column(Message, 'room')}, {select} FROM {joined}"
        f" WHERE {' OR '.join(where)} ORDER BY {room}, {seq}",
        params,
    )
    found: dict[int, list[Frame]] = {}
    converted = _converted([row[1:] for row in rows])
    reactions, replies = decorations(converted)
    for (room_id, *_), row in zip(rows, converted, strict=True):
        if room_id in slugs:
            found.setdefault(room_id, []).append(
                message_row_frame(
                    row,
                    room_slug=slugs[room_id],
                    reactions=reactions,
                    replies=replies,
                )
            )
    return found


def rooms_history(
    *, wants: list[tuple[Room, int | None]]
) -> dict[tuple[int, int | None], tuple[list[Frame], bool]]:
    """room_history() of many (room, since) pairs, by (room id, since), in one query.

    A reconnect storm brings a batch of handshakes to many rooms, each with its own
    `since`: one statement reads, per room, the last 50 (when some socket has no
    `since`) and the page after the lowest `since`; a higher `since` of the same room is
    a slice of that page. Only when that page stops short of the present and a higher
    `since` would need rows past it does that socket get a query of its own.
    """
    sinces: dict[int, set[int | None]] = {}
    rooms: dict[int, Room] = {}
    for room, since in wants:
        rooms[room.pk] = room
        sinces.setdefault(room.pk, set()).add(since)
    m = sql.table(Message)
    seq = f"{m}.{sql.column(Message, 'seq')}"
    select, joined = _message_select()
    parts: list[str] = []
    params: list[Any] = []
    keys: list[tuple[int, int | None]] = []
    for room_id, room_sinces in sinces.items():
        lowest = min((s for s in room_sinces if s is not None), default=None)
        for since in ([None] if None in room_sinces else []) + (
            [lowest] if lowest is not None else []
        ):
            where, limit = f"{m}.{sql.column(Message, 'room')} = %s", HISTORY_LAST
            part_params: list[Any] = [len(keys), room_id]
            if since is not None:
                where += f" AND {seq} > %s"
                part_params.append(since)
                limit = HISTORY_SINCE_MAX
            parts.append(
                f"SELECT * FROM (SELECT %s AS part, {select} FROM {joined}"
                f" WHERE {where} ORDER BY {seq} {'ASC' if since is not None else 'DESC'}"
                f" LIMIT %s) AS p{len(keys)}"
            )
            params += [*part_params, limit + 1]
            keys.append((room_id, since))
    rows = sql.fetchall(" UNION ALL ".join(parts), params) if parts else []
    by_part: list[list[tuple[Any, ...]]] = [[] for _ in keys]
    for row in rows:
        by_part[row[0]].append(row[1:])
    pages: dict[tuple[int, int | None], tuple[list[tuple[Any, ...]], bool]] = {}
    for (room_id, since), part in zip(keys, by_part, strict=True):
        # Each part was ordered and limited in its subquery; UNION ALL promises no order.
        part.sort(key=lambda row: row[1], reverse=since is None)
        limit = HISTORY_LAST if since is None else HISTORY_SINCE_MAX
        page = part[:limit] if since is not None else part[:limit][::-1]
        pages[room_id, since] = (_converted(page), len(part) > limit)
    reactions, replies = decorations([r for page, _ in pages.values() for r in page])

    def framed(room_id: int, page: list[tuple[Any, ...]]) -> list[Frame]:
        slug = rooms[room_id].slug
        return [
            message_row_frame(r, room_slug=slug, reactions=reactions, replies=replies)
            for r in page
        ]

    found: dict[tuple[int, int | None], tuple[list[Frame], bool]] = {}
    for room_id, room_sinces in sinces.items():
        if None in room_sinces:
            page, _older = pages[room_id, None]
            found[room_id, None] = framed(room_id, page), True
        lowest = min((s for s in room_sinces if s is not None), default=None)
        if lowest is None:
            continue
        page, more = pages[room_id, lowest]
        frames = framed(room_id, page)
        for since in sorted(s for s in room_sinces if s is not None):
            after = [f for f in frames if f["seq"] > since]
            if since == lowest or not more:
                found[room_id, since] = after, not more
            else:  # the page ends before the present: this since reads its own
                found[room_id, since] = room_history(room=rooms[room_id], since=since)
    return found


def online_summaries(
    *, room_slugs: list[str], limit: int = ONLINE_LIST_MAX
) -> dict[str, tuple[list[Frame], int]]:
    """At most `limit` online users of each of these rooms (by username) and how many
    there are, in one query (a room nobody is in is left out): every welcome's
    `online`. online_users() is the same set, as a QuerySet."""
    slugs = sorted(set(room_slugs))
    if not slugs:
        return {}
    user_model = get_user_model()
    name = sql.column(user_model, user_model.USERNAME_FIELD)
    pk = sql.column(user_model, user_model._meta.pk.name)
    key, user = sql.column(Connection, "room_key"), sql.column(Connection, "user")
    rows = sql.fetchall(
        f"SELECT room_key, user_id, username, n FROM ("
        f"SELECT o.room_key AS room_key, u.{pk} AS user_id, u.{name} AS username,"
        f" ROW_NUMBER() OVER (PARTITION BY o.room_key ORDER BY u.{name}) AS r,"
        f" COUNT(*) OVER (PARTITION BY o.room_key) AS n"
        f" FROM (SELECT DISTINCT {key} AS room_key, {user} AS user_id"
        f" FROM {sql.table(Connection)} WHERE {sql.column(Connection, 'route')} = %s"
        f" AND {key} IN ({sql.placeholders(len(slugs))})) AS o"
        f" INNER JOIN {sql.table(user_model)} AS u ON u.{pk} = o.user_id"
        f") AS w WHERE r <= %s ORDER BY room_key, r",
        [ROUTE, *slugs, limit],
    )
    found: dict[str, tuple[list[Frame], int]] = {}
    for room_key, user_id, username, n in rows:
        listed, _ = found.setdefault(room_key, ([], int(n)))
        listed.append(user_out(user_id, username))
    return found


def room_changes(*, room: Room, since: int, rev: int) -> tuple[list[Frame], bool]:
    """The welcome's `changes`: messages at or before `since` changed after `rev`, in
    their current state, oldest change first, at most 500; and whether that is all.

    Read the room's rev (room_revs) before this: a change committed in between is then
    here as well as after the welcome's rev, seen twice (harmless), never missed.
    """
    changes, more = changes_page(
        room=room, rev=rev, through_seq=since, limit=CHANGES_MAX
    )
    return changes, not more


def online_users(*, room_slug: str) -> QuerySet[Any]:
    """Distinct users with a live socket in the room (the registry's rows), by username."""
    live = Connection.objects.filter(route=ROUTE, room_key=room_slug)
    return (
        get_user_model()
        .objects.filter(pk__in=live.values("user_id"))
        .order_by("username")
    )


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


# --- belonging, read pointers, unread ---------------------------------------------------

#: how many entries the notify welcome's `rooms` carries
WELCOME_ROOMS_MAX = 200


def belonging_room_ids(*, user_id: int) -> list[int]:
    """Ids of the rooms the user belongs to: joined public, whitelisted non-public."""
    joined = Joined.objects.filter(
        user_id=user_id, room__kind=Room.Kind.PUBLIC
    ).values_list("room_id", flat=True)
    listed = (
        Membership.objects.filter(user_id=user_id)
        .exclude(room__kind=Room.Kind.PUBLIC)
        .values_list("room_id", flat=True)
    )
    return sorted(set(joined) | set(listed))


def user_belongs(*, room: Room, user_id: int) -> bool:
    """Whether the user belongs to the room (PROTOCOL.md 9)."""
    rows = Joined if room.kind == Room.Kind.PUBLIC else Membership
    return rows.objects.filter(room_id=room.pk, user_id=user_id).exists()


def read_state(*, room_id: int, user_id: int) -> tuple[int, int]:
    """(pointer, unread) of one user in one room."""
    last_seq = Room.objects.filter(pk=room_id).values_list("last_seq", flat=True)
    pointer = ReadPointer.objects.filter(room_id=room_id, user_id=user_id).values_list(
        "seq", flat=True
    )
    last, seq = last_seq.first() or 0, pointer.first() or 0
    deleted = DeletedSeq.objects.filter(room_id=room_id, seq__gt=seq).count()
    return seq, max(last - seq - deleted, 0)


def my_rooms(*, user: Any) -> list[Frame]:
    """Every room the user belongs to as `GET /api/me/rooms/` entries, latest first.

    Latest activity: the newest message's time, or the room's creation when it has none.
    Five prepared queries whatever the counts (rooms with pointers and newest message
    ids; deleted seqs after the pointers; mentions after them; the newest messages;
    the direct rooms' peers). Measured through the view with `manage.py
    bench_my_rooms` (200 rooms, 100,000 messages): p95 9 to 24 ms on SQLite, 15 ms on
    PostgreSQL (a shared two-core machine).
    """
    uid = int(user.pk)
    r, p = sql.table(Room), sql.table(ReadPointer)
    j, w = sql.table(Joined), sql.table(Membership)
    m, d, mn = sql.table(Message), sql.table(DeletedSeq), sql.table(Mention)

    def c(model: Any, field: str) -> str:
        return sql.column(model, field)

    rid = f"{r}.{c(Room, 'id')}"
    newest = (
        f"SELECT {m}.{c(Message, 'id')} FROM {m} WHERE {m}.{c(Message, 'room')} = {rid}"
        f" ORDER BY {m}.{c(Message, 'seq')} DESC LIMIT 1"
    )
    rows = sql.fetchall(
        f"SELECT {rid}, {r}.{c(Room, 'slug')}, {r}.{c(Room, 'name')},"
        f" {r}.{c(Room, 'kind')}, {r}.{c(Room, 'last_seq')},"
        f" {r}.{c(Room, 'direct_key')}, {r}.{c(Room, 'created')},"
        f" COALESCE({p}.{c(ReadPointer, 'seq')}, 0), ({newest})"
        f" FROM {r} LEFT JOIN {p} ON {p}.{c(ReadPointer, 'room')} = {rid}"
        f" AND {p}.{c(ReadPointer, 'user')} = %s"
        f" WHERE ({r}.{c(Room, 'kind')} = %s AND {rid} IN"
        f" (SELECT {c(Joined, 'room')} FROM {j} WHERE {c(Joined, 'user')} = %s))"
        f" OR ({r}.{c(Room, 'kind')} <> %s AND {rid} IN"
        f" (SELECT {c(Membership, 'room')} FROM {w}"
        f" WHERE {c(Membership, 'user')} = %s))",
        [uid, Room.Kind.PUBLIC, uid, Room.Kind.PUBLIC, uid],
    )
    if not rows:
        return []
    ids = [row[0] for row in rows]
    in_ids = ", ".join(str(int(i)) for i in ids)  # ints: nothing to escape
    deleted = dict(
        sql.fetchall(
            f"SELECT {d}.{c(DeletedSeq, 'room')}, COUNT(*) FROM {d}"
            f" LEFT JOIN {p} ON {p}.{c(ReadPointer, 'room')} = {d}.{c(DeletedSeq, 'room')}"
            f" AND {p}.{c(ReadPointer, 'user')} = %s"
            f" WHERE {d}.{c(DeletedSeq, 'room')} IN ({in_ids})"
            f" AND {d}.{c(DeletedSeq, 'seq')} > COALESCE({p}.{c(ReadPointer, 'seq')}, 0)"
            f" GROUP BY {d}.{c(DeletedSeq, 'room')}",
            [uid],
        )
    )
    mentions = dict(
        sql.fetchall(
            f"SELECT {mn}.{c(Mention, 'room')}, COUNT(*) FROM {mn}"
            f" LEFT JOIN {p} ON {p}.{c(ReadPointer, 'room')} = {mn}.{c(Mention, 'room')}"
            f" AND {p}.{c(ReadPointer, 'user')} = {mn}.{c(Mention, 'user')}"
            f" WHERE {mn}.{c(Mention, 'user')} = %s"
            f" AND {mn}.{c(Mention, 'seq')} > COALESCE({p}.{c(ReadPointer, 'seq')}, 0)"
            f" GROUP BY {mn}.{c(Mention, 'room')}",
            [uid],
        )
    )
    user_model = get_user_model()
    u = sql.table(user_model)
    upk = sql.column(user_model, user_model._meta.pk.name)
    uname = sql.column(user_model, user_model.USERNAME_FIELD)
    newest_ids = [row[8] for row in rows if row[8] is not None]
    last: dict[int, tuple[Any, ...]] = {}
    reactions: dict[int, list[Frame]] = {}
    replies: dict[int, Frame] = {}
    if newest_ids:
        select, joined = _message_select()
        found = sql.fetchall(
            f"SELECT {m}.{c(Message, 'room')}, {select} FROM {joined}"
            f" WHERE {m}.{c(Message, 'id')}"
            f" IN ({', '.join(str(int(i)) for i in newest_ids)})",
            [],
        )
        converted = _converted([row[1:] for row in found])
        last = {row[0]: conv for row, conv in zip(found, converted, strict=True)}
        reactions, replies = decorations(converted)
    peers: dict[int, int] = {}
    for row in rows:
        if row[5]:
            low, high = (int(x) for x in row[5].split(":"))
            peers[row[0]] = high if low == uid else low
    names: dict[int, str] = {}
    if peers:
        names = dict(
            sql.fetchall(
                f"SELECT {upk}, {uname} FROM {u}"
                f" WHERE {upk} IN ({', '.join(str(i) for i in set(peers.values()))})",
                [],
            )
        )
    room_created = sql.converter(Room, "created")
    entries: list[tuple[Any, str, Frame]] = []
    for room_id, slug, name, kind, last_seq, _key, created, pointer, _n in rows:
        pointer = min(pointer, last_seq)
        row = last.get(room_id)
        message = None
        if row is not None:
            message = message_row_frame(
                row, room_slug=slug, reactions=reactions, replies=replies
            )
        peer = peers.get(room_id)
        entries.append(
            (
                row[5] if row is not None else room_created(created),
                slug,
                {
                    "slug": slug,
                    "name": name,
                    "kind": kind,
                    "peer": user_out(peer, names.get(peer, "")) if peer else None,
                    "last_seq": last_seq,
                    "last_read_seq": pointer,
                    "unread": max(last_seq - pointer - deleted.get(room_id, 0), 0),
                    "mentions": mentions.get(room_id, 0),
                    "last_message": message,
                },
            )
        )
    entries.sort(key=lambda e: (e[0], e[1]), reverse=True)
    return [entry for _, _, entry in entries]
