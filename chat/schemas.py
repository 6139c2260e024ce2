"""Every chat frame, in and out (PROTOCOL.md section 4, plus `message_deleted`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, TypedDict

from django.conf import settings
from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from realtime.socket.frames import iso

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


# --- server to client -----------------------------------------------------------------


class UserOut(TypedDict):
    id: int
    username: str


class MessageOut(TypedDict):
    type: Literal["message"]
    id: int
    seq: int
    room: str
    user: UserOut
    body: str
    ts: str
    client_id: str | None


def user_out(user_id: int, username: str) -> UserOut:
    """The protocol's user object."""
    return {"id": int(user_id), "username": username}


def message_frame(message: Any, *, room_slug: str | None = None) -> MessageOut:
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


def message_row_frame(row: tuple[Any, ...], *, room_slug: str) -> MessageOut:
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
    *, joins: Iterable[UserOut], leaves: Iterable[UserOut], count: int
) -> dict[str, Any]:
    """`{"type":"presence","joins","leaves","count"}`: a diff, never the full list."""
    return {
        "type": "presence",
        "joins": list(joins),
        "leaves": list(leaves),
        "count": count,
    }


def message_deleted_frame(
    *, message_id: int, room_slug: str, seq: int
) -> dict[str, Any]:
    """Addition to the protocol: a stored message was removed (by a moderator)."""
    return {"type": "message_deleted", "id": message_id, "room": room_slug, "seq": seq}


def system_frame(body: str, *, ts: str) -> dict[str, Any]:
    """`{"type":"system","body","ts"}`: a broadcast from an admin or a command."""
    return {"type": "system", "body": body, "ts": ts}


def welcome_frame(
    *,
    room_slug: str,
    user: UserOut,
    connection_id: str,
    heartbeat_interval: int,
    online: list[UserOut],
    online_count: int,
    history: list[MessageOut],
    complete: bool,
) -> dict[str, Any]:
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
CHAT_EVENT_KINDS = frozenset({"message", "presence", "system", "message_deleted"})
