"""Every notify frame, in and out (PROTOCOL.md section 4, "Notify")."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    model_validator,
)

from chat.schemas import ActivityOut, ReadOut, RoomEntryOut
from realtime.socket.frames import dumps, iso
from realtime.socket.schemas import OutFrame, Timestamp, UserOut

Level = Literal["info", "success", "warning", "error"]


# --- client to server -----------------------------------------------------------------------
class ReadIn(BaseModel):
    """`{"type":"read","id":int}` or `{"type":"read","all":true}`: exactly one of the two."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["read"]
    id: StrictInt | None = Field(default=None, ge=1, le=2**63 - 1)
    all: StrictBool | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ReadIn:
        if (self.id is None) == (self.all is None):
            raise ValueError("give exactly one of 'id' and 'all'")
        if self.all is False:
            raise ValueError("'all' must be true")
        return self


# --- server to client -----------------------------------------------------------------------
class NotificationOut(OutFrame):
    """`{"type":"notification","id","title","body","level","link","ts","read"}`.

    `link` is a protocol addition: where the notification points (an http(s) URL or a
    same-site path), `""` for none, as on REST.
    """

    type: Literal["notification"]
    id: int = Field(ge=1)
    title: str
    body: str
    level: Level
    link: str = Field(max_length=500)
    ts: Timestamp
    read: bool


class UnreadOut(OutFrame):
    """`{"type":"unread","count":int,"unread":int}`: to every notify socket of the user.

    `unread` (the same number as `count`) is a protocol addition: the name the welcome
    and REST give the count.
    """

    type: Literal["unread"]
    count: int = Field(ge=0)
    unread: int = Field(ge=0)


class WelcomeOut(OutFrame):
    """The first frame: the user, the unread count and up to 100 unread, newest first.

    `connection_id` and `heartbeat_interval` are additions to the protocol (README.md).
    """

    type: Literal["welcome"]
    user: UserOut
    connection_id: str
    heartbeat_interval: int = Field(ge=0)
    unread: int = Field(ge=0)
    notifications: list[NotificationOut] = Field(max_length=100)
    #: the first 200 entries of `GET /api/me/rooms/` (PROTOCOL.md 9)
    rooms: list[RoomEntryOut] = Field(max_length=200)


#: every frame a notify socket sends besides the plumbing's (error, heartbeat, auth,
#: system); `read` and `activity` are the chat app's (PROTOCOL.md 9)
OUTBOUND = (WelcomeOut, NotificationOut, UnreadOut, ReadOut, ActivityOut)

#: every frame type a notify socket forwards from its topics
OUTBOUND_KINDS = frozenset({"notification", "unread", "system", "read", "activity"})


# --- encoders (hot path: plain dicts and string splicing, the models above document them) ----


def notification_frame(
    *,
    id: int,
    title: str,
    body: str,
    level: str,
    link: str,
    created: dt.datetime,
    read: bool,
) -> dict[str, object]:
    """One notification as a frame (also the items of the welcome's list)."""
    return {
        "type": "notification",
        "id": id,
        "title": title,
        "body": body,
        "level": level,
        "link": link,
        "ts": iso(created),
        "read": read,
    }


class NotificationEncoder:
    """Encodes one notification sent to many users once; each user's frame differs by `id`."""

    _HEAD = '{"type":"notification","id":'

    def __init__(
        self, *, title: str, body: str, level: str, link: str, created: dt.datetime
    ) -> None:
        rest = dumps(
            {
                "title": title,
                "body": body,
                "level": level,
                "link": link,
                "ts": iso(created),
                "read": False,
            }
        )
        self._tail = "," + rest[1:]  # `,"title":...}`

    def encode(self, notification_id: int) -> str:
        """The frame for the row with this id."""
        return f"{self._HEAD}{int(notification_id)}{self._tail}"


def unread_frame(count: int) -> dict[str, object]:
    """`{"type":"unread","count":N,"unread":N}`."""
    return {"type": "unread", "count": int(count), "unread": int(count)}


def welcome_frame(
    *,
    user_id: int,
    username: str,
    connection_id: str,
    heartbeat_interval: int,
    unread: int,
    notifications: list[dict[str, object]],
    rooms: list[dict[str, object]],
) -> dict[str, object]:
    """The first frame of a notify socket (WelcomeOut)."""
    return {
        "type": "welcome",
        "user": {"id": int(user_id), "username": username},
        "connection_id": connection_id,
        "heartbeat_interval": heartbeat_interval,
        "unread": unread,
        "notifications": notifications,
        "rooms": rooms,
    }
