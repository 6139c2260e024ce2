"""Every chat frame, in and out (PROTOCOL.md sections 4 and 10).

The `*Out` models describe what a chat socket sends (ChatConsumer.outbound); the
`*_frame` builders make those frames as plain dicts, on the hot path.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from django.conf import settings
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    field_validator,
)

from realtime.socket.frames import iso
from realtime.socket.schemas import OutFrame, Timestamp, UserOut

CLIENT_ID_MAX = 64


def max_body_chars() -> int:
    """WS_MAX_BODY_CHARS, read when asked."""
    return int(settings.WS_MAX_BODY_CHARS)


def clean_body(value: str) -> str:
    """Trim a message body and check it is 1..WS_MAX_BODY_CHARS characters (ValueError)."""
    body = value.strip()
    if not body:
        raise ValueError("body is empty")
    if "\x00" in body:  # PostgreSQL text cannot hold it
        raise ValueError("body contains a NUL character")
    if len(body) > max_body_chars():
        raise ValueError(f"body is over {max_body_chars()} characters")
    return body


# --- client to server ---------------------------------------------------------------


class MessageIn(BaseModel):
    """`{"type":"message","body":str,"client_id":str?}`."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["message"]
    body: StrictStr
    client_id: StrictStr | None = Field(
        default=None, min_length=1, max_length=CLIENT_ID_MAX
    )
    #: the id of the message this one answers (a message of the same room)
    reply_to: StrictInt | None = Field(default=None, ge=1, le=2**63 - 1)

    @field_validator("body")
    @classmethod
    def _body(cls, value: str) -> str:
        return clean_body(value)

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError("client_id contains a NUL character")
        return value


#: how long an emoji (a reaction) may be, in characters (PROTOCOL.md 10)
EMOJI_MAX = 16
#: how many distinct emoji one message can carry
REACTIONS_MAX = 20
#: how many user ids a reaction lists (its count counts them all)
REACTION_USERS_MAX = 100


#: invisible characters an emoji may hold: the zero-width joiner of sequences (👩‍💻) and
#: the variation selectors (❤️); any other format or control character is refused
_EMOJI_INVISIBLE_OK = frozenset("\u200d\ufe0e\ufe0f")


def clean_emoji(value: str) -> str:
    """An emoji, NFC: 1 to 16 characters, no whitespace, no invisible or control
    characters but those sequences use (ValueError otherwise): a reaction reads as what
    it shows, never as a blank or a right-to-left override."""
    if not isinstance(value, str):
        raise ValueError(f"1 to {EMOJI_MAX} characters")
    value = unicodedata.normalize("NFC", value)
    if not 1 <= len(value) <= EMOJI_MAX:
        raise ValueError(f"1 to {EMOJI_MAX} characters")
    if any(c.isspace() for c in value):
        raise ValueError("no whitespace")
    if any(
        unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn")
        and c not in _EMOJI_INVISIBLE_OK
        for c in value
    ):
        raise ValueError("no invisible or control characters")
    return value


#: the id of a stored message, as a client names it
MessageId = Annotated[StrictInt, Field(ge=1, le=2**63 - 1)]


class EditIn(BaseModel):
    """`{"type":"edit","id":int,"body":str}`: the author replaces a message's body."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["edit"]
    id: MessageId
    body: StrictStr

    @field_validator("body")
    @classmethod
    def _body(cls, value: str) -> str:
        return clean_body(value)


class DeleteIn(BaseModel):
    """`{"type":"delete","id":int}`: the message becomes a tombstone."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["delete"]
    id: MessageId


class ReactIn(BaseModel):
    """`{"type":"react","id":int,"emoji":str}`: toggles the user's reaction."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["react"]
    id: MessageId
    emoji: StrictStr

    @field_validator("emoji")
    @classmethod
    def _emoji(cls, value: str) -> str:
        return clean_emoji(value)


class ReadIn(BaseModel):
    """`{"type":"read","seq":int}`: the user has read this room up to `seq`."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["read"]
    seq: StrictInt = Field(ge=0, le=2**63 - 1)


class TypingIn(BaseModel):
    """`{"type":"typing"}`: the user is typing in this room (send it every 2 to 3 s)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["typing"]


# --- server to client: what each frame is (checked in tests, published) ---------------


class ReactionOut(OutFrame):
    """One emoji on a message: how many users put it there, and (at most 100) who."""

    emoji: str = Field(min_length=1, max_length=EMOJI_MAX)
    count: int = Field(ge=1)
    users: list[int] = Field(min_length=1, max_length=REACTION_USERS_MAX)


class ReplyOut(OutFrame):
    """The message a message answers: enough to show it, not the whole of it."""

    id: int = Field(ge=1)
    seq: int = Field(ge=1)
    user: UserOut
    preview: str = Field(max_length=140)


class MessageOut(OutFrame):
    """`{"type":"message","id","seq","room","user","body","ts","client_id","rev",
    "edited","deleted","reactions","reply_to"}`, in its current state.

    Also the items of the welcome's `history` and `changes`, of the REST message pages
    and of `message_updated`. A tombstone (`deleted`) has `body:""`, no reactions and
    no `reply_to`.
    """

    type: Literal["message"]
    id: int = Field(ge=1)
    seq: int = Field(ge=1)
    room: str
    user: UserOut
    body: str
    ts: Timestamp
    client_id: str | None
    rev: int = Field(ge=0)
    edited: Timestamp | None
    deleted: bool
    reactions: list[ReactionOut] = Field(max_length=REACTIONS_MAX)
    reply_to: ReplyOut | None


class WelcomeOut(OutFrame):
    """The first frame of a chat socket: who is here and what was said."""

    type: Literal["welcome"]
    room: str
    user: UserOut
    connection_id: str
    heartbeat_interval: int = Field(ge=0)
    online: list[UserOut] = Field(max_length=100)
    online_count: int = Field(ge=0)
    history: list[MessageOut] = Field(max_length=500)
    complete: bool
    rev: int = Field(ge=0)
    changes: list[MessageOut] = Field(max_length=500)


class PresenceOut(OutFrame):
    """`{"type":"presence","joins","leaves","count"}`: a diff, never the full list."""

    type: Literal["presence"]
    joins: list[UserOut]
    leaves: list[UserOut]
    count: int = Field(ge=0)


class MessageUpdatedOut(OutFrame):
    """`{"type":"message_updated","message"}`: a stored message changed (an edit, a
    delete, a reaction); `message` is its whole current state."""

    type: Literal["message_updated"]
    message: MessageOut


class ReadOut(OutFrame):
    """`{"type":"read","room","seq","unread"}`: the user's read pointer in a room moved.

    To every socket of that user, chat and notify (PROTOCOL.md 9).
    """

    type: Literal["read"]
    room: str
    seq: int = Field(ge=0)
    unread: int = Field(ge=0)


class ActivityOut(OutFrame):
    """`{"type":"activity","room","seq","user","preview","ts"}`: a new message in a room
    the user belongs to (notify sockets: every room's badge on one socket)."""

    type: Literal["activity"]
    room: str
    seq: int = Field(ge=1)
    user: UserOut
    preview: str = Field(max_length=140)
    ts: Timestamp


#: the most typists a room's `typing` frame lists (and a process keeps per room)
TYPING_MAX_USERS = 100


class TypingOut(OutFrame):
    """`{"type":"typing","users"}`: who typed in this room in the last 5 s, in the order
    they started; sent when that list changes, at most once a second per room.

    Every typist is listed, the socket's own user included: a client hides itself.
    """

    type: Literal["typing"]
    users: list[UserOut] = Field(max_length=TYPING_MAX_USERS)


class RoomSettingsOut(OutFrame):
    """A room's settings as its sockets see them (the `room` frame's `room`)."""

    slug: str
    name: str
    topic: str = Field(max_length=250)
    kind: Literal["public", "private", "direct"]
    archived: Timestamp | None


class RoomOut(OutFrame):
    """Addition to the protocol: `{"type":"room","room":{...}}`, the room's name, topic,
    kind or archived state changed (to its sockets, after the commit)."""

    type: Literal["room"]
    room: RoomSettingsOut


class RoomEntryOut(OutFrame):
    """One entry of `GET /api/me/rooms/` and of the notify welcome's `rooms`."""

    slug: str
    name: str
    kind: Literal["public", "private", "direct"]
    peer: UserOut | None
    last_seq: int = Field(ge=0)
    last_read_seq: int = Field(ge=0)
    unread: int = Field(ge=0)
    mentions: int = Field(ge=0)
    last_message: MessageOut | None


#: every frame a chat socket sends besides the plumbing's (error, heartbeat, auth,
#: system: an admin's broadcast is the plumbing's SystemOut without `degraded`)
OUTBOUND = (
    WelcomeOut,
    MessageOut,
    PresenceOut,
    MessageUpdatedOut,
    ReadOut,
    TypingOut,
    RoomOut,
)


# --- server to client: the builders (hot path: plain dicts, encoded once) -------------

#: a frame, or an object inside one, as the builders make it
Frame = dict[str, Any]


def user_out(user_id: int, username: str) -> Frame:
    """The protocol's user object."""
    return {"id": int(user_id), "username": username}


def reply_out(message: Any) -> Frame:
    """The `reply_to` object of the message `message` answers (its author loaded)."""
    return {
        "id": message.id,
        "seq": message.seq,
        "user": user_out(message.user_id, message.user.username),
        "preview": "" if message.deleted else preview_of(message.body),
    }


def message_frame(
    message: Any,
    *,
    room_slug: str | None = None,
    reactions: list[Frame] | None = None,
) -> Frame:
    """A stored Message as the `message` frame (also the REST representation).

    The hot path (a fresh message, built once whatever the fan-out) reads no more than
    the instance: a new message has rev 0, no edit, no reactions, and its `reply_to`
    target was loaded to check it. `reactions` is the caller's (selectors.reactions_of)
    for a message that may have some.
    """
    deleted = message.deleted
    return {
        "type": "message",
        "id": message.id,
        "seq": message.seq,
        "room": room_slug if room_slug is not None else message.room.slug,
        "user": user_out(message.user_id, message.user.username),
        "body": "" if deleted else message.body,
        "ts": iso(message.created),
        "client_id": message.client_id,
        "rev": message.rev,
        "edited": iso(message.edited) if message.edited is not None else None,
        "deleted": deleted,
        "reactions": [] if deleted or reactions is None else reactions,
        "reply_to": (
            reply_out(message.reply_to)
            if message.reply_to_id is not None and not deleted
            else None
        ),
    }


#: The columns message_row_frame() reads: frames straight from rows, no model instances.
MESSAGE_ROW = (
    "id",
    "seq",
    "user_id",
    "user__username",
    "body",
    "created",
    "client_id",
    "rev",
    "edited",
    "deleted",
    "reply_to_id",
)


def message_row_frame(
    row: tuple[Any, ...],
    *,
    room_slug: str,
    reactions: dict[int, list[Frame]] | None = None,
    replies: dict[int, Frame] | None = None,
) -> Frame:
    """message_frame() from a MESSAGE_ROW tuple (history pages: 50 to 500 rows a handshake).

    `reactions` and `replies` are the page's, by message id and by replied-to id, each
    fetched once for the whole page (selectors.decorations).
    """
    (msg_id, seq, user_id, username, body, created, client_id, rev, edited) = row[:9]
    deleted, reply_to_id = bool(row[9]), row[10]
    return {
        "type": "message",
        "id": msg_id,
        "seq": seq,
        "room": room_slug,
        "user": user_out(user_id, username),
        "body": "" if deleted else body,
        "ts": iso(created),
        "client_id": client_id,
        "rev": rev,
        "edited": iso(edited) if edited is not None else None,
        "deleted": deleted,
        "reactions": (reactions or {}).get(msg_id, []) if not deleted else [],
        "reply_to": (
            (replies or {}).get(reply_to_id)
            if reply_to_id is not None and not deleted
            else None
        ),
    }


def message_updated_frame(message: Frame) -> Frame:
    """`{"type":"message_updated","message"}` (MessageUpdatedOut)."""
    return {"type": "message_updated", "message": message}


def reactions_out(rows: Iterable[tuple[Any, ...]]) -> dict[int, list[Frame]]:
    """(message id, emoji, user id[, total]) rows, oldest reaction first, as each
    message's `reactions`: emoji in the order they were first put on it, users likewise
    (at most REACTION_USERS_MAX listed). With `total` (the database counted, and sent
    only the first users of each emoji) the count is it; without, the rows are counted."""
    out: dict[int, dict[str, Frame]] = {}
    for message_id, emoji, user_id, *total in rows:
        entry = out.setdefault(message_id, {}).get(emoji)
        if entry is None:
            entry = {"emoji": emoji, "count": 0, "users": []}
            out[message_id][emoji] = entry
        entry["count"] = total[0] if total else entry["count"] + 1
        if len(entry["users"]) < REACTION_USERS_MAX:
            entry["users"].append(int(user_id))
    return {mid: list(by_emoji.values()) for mid, by_emoji in out.items()}


def presence_frame(
    *, joins: Iterable[Frame], leaves: Iterable[Frame], count: int
) -> Frame:
    """`{"type":"presence","joins","leaves","count"}`: a diff, never the full list."""
    return {
        "type": "presence",
        "joins": list(joins),
        "leaves": list(leaves),
        "count": count,
    }


PREVIEW_MAX = 140


def preview_of(body: str) -> str:
    """At most 140 characters of a body, on one line (activity frames)."""
    flat = " ".join(body.split())
    return flat if len(flat) <= PREVIEW_MAX else flat[: PREVIEW_MAX - 1] + "\u2026"


def read_frame(*, room_slug: str, seq: int, unread: int) -> Frame:
    """`{"type":"read","room","seq","unread"}` (ReadOut)."""
    return {"type": "read", "room": room_slug, "seq": int(seq), "unread": int(unread)}


def activity_frame(message: Any, *, room_slug: str) -> Frame:
    """`{"type":"activity",...}` of a stored message (ActivityOut)."""
    return {
        "type": "activity",
        "room": room_slug,
        "seq": message.seq,
        "user": user_out(message.user_id, message.user.username),
        "preview": preview_of(message.body),
        "ts": iso(message.created),
    }


def typing_frame(*, users: Iterable[Frame]) -> Frame:
    """`{"type":"typing","users"}` (TypingOut)."""
    return {"type": "typing", "users": list(users)}


def room_frame(room: Any) -> Frame:
    """`{"type":"room","room":{slug,name,topic,kind,archived}}` of a Room (RoomOut)."""
    return {
        "type": "room",
        "room": {
            "slug": room.slug,
            "name": room.name,
            "topic": room.topic,
            "kind": room.kind,
            "archived": iso(room.archived) if room.archived is not None else None,
        },
    }


def system_frame(body: str, *, ts: str) -> Frame:
    """`{"type":"system","body","ts"}`: a broadcast from an admin or a command."""
    return {"type": "system", "body": body, "ts": ts}


def welcome_frame(
    *,
    room_slug: str,
    user: Frame,
    connection_id: str,
    heartbeat_interval: int,
    online: list[Frame],
    online_count: int,
    history: list[Frame],
    complete: bool,
    rev: int,
    changes: list[Frame],
) -> Frame:
    """The first frame of a chat socket, as PROTOCOL.md sections 4 and 10 list it."""
    return {
        "type": "welcome",
        "room": room_slug,
        "user": user,
        "connection_id": connection_id,
        "heartbeat_interval": heartbeat_interval,
        "online": online,
        "online_count": online_count,
        "history": history,
        "complete": complete,
        "rev": rev,
        "changes": changes,
    }


#: Frame types a chat socket forwards from its topics (the user topic carries others).
CHAT_EVENT_KINDS = frozenset(
    {"message", "presence", "system", "message_updated", "read", "typing", "room"}
)
