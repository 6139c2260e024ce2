"""Every chat frame, in and out (PROTOCOL.md section 4, plus `message_deleted`).

The `*Out` models describe what a chat socket sends (ChatConsumer.outbound); the
`*_frame` builders make those frames as plain dicts, on the hot path.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

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


class ReadIn(BaseModel):
    """`{"type":"read","seq":int}`: the user has read this room up to `seq`."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["read"]
    seq: StrictInt = Field(ge=0, le=2**63 - 1)


# --- server to client: what each frame is (checked in tests, published) ---------------


class MessageOut(OutFrame):
    """`{"type":"message","id","seq","room","user","body","ts","client_id"}`.

    Also the items of the welcome's `history` and of the REST message pages.
    """

    type: Literal["message"]
    id: int = Field(ge=1)
    seq: int = Field(ge=1)
    room: str
    user: UserOut
    body: str
    ts: Timestamp
    client_id: str | None


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


class PresenceOut(OutFrame):
    """`{"type":"presence","joins","leaves","count"}`: a diff, never the full list."""

    type: Literal["presence"]
    joins: list[UserOut]
    leaves: list[UserOut]
    count: int = Field(ge=0)


class MessageDeletedOut(OutFrame):
    """Addition to the protocol: a stored message was removed (by a moderator)."""

    type: Literal["message_deleted"]
    id: int = Field(ge=1)
    room: str
    seq: int = Field(ge=1)


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
OUTBOUND = (WelcomeOut, MessageOut, PresenceOut, MessageDeletedOut, ReadOut, RoomOut)


# --- server to client: the builders (hot path: plain dicts, encoded once) -------------

#: a frame, or an object inside one, as the builders make it
Frame = dict[str, Any]


def user_out(user_id: int, username: str) -> Frame:
    """The protocol's user object."""
    return {"id": int(user_id), "username": username}


def message_frame(message: Any, *, room_slug: str | None = None) -> Frame:
    """A stored Message as the `message` frame (also the REST representation)."""
    return {
        "type": "message",
        "id": message.id,
        "seq": message.seq,
        "room": room_slug if room_slug is not None else message.room.slug,
        "user": user_out(message.user_id, message.user.username),
        "body": message.body,
        "ts": iso(message.created),
        "client_id": message.client_id,
    }


#: The columns message_row_frame() reads: frames straight from rows, no model instances.
MESSAGE_ROW = ("id", "seq", "user_id", "user__username", "body", "created", "client_id")


def message_row_frame(row: tuple[Any, ...], *, room_slug: str) -> Frame:
    """message_frame() from a MESSAGE_ROW tuple (history pages: 50 to 500 rows a handshake)."""
    msg_id, seq, user_id, username, body, created, client_id = row
    return {
        "type": "message",
        "id": msg_id,
        "seq": seq,
        "room": room_slug,
        "user": user_out(user_id, username),
        "body": body,
        "ts": iso(created),
        "client_id": client_id,
    }


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


def message_deleted_frame(*, message_id: int, room_slug: str, seq: int) -> Frame:
    """Addition to the protocol: a stored message was removed (by a moderator)."""
    return {"type": "message_deleted", "id": message_id, "room": room_slug, "seq": seq}


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
) -> Frame:
    """The first frame of a chat socket, exactly as PROTOCOL.md section 4 lists it."""
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
    }


#: Frame types a chat socket forwards from its topics (the user topic carries others).
CHAT_EVENT_KINDS = frozenset(
    {"message", "presence", "system", "message_deleted", "read", "room"}
)
