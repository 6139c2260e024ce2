"""`/ws/chat/<slug>/`: a room's history, live messages and presence."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError

from chat import selectors, services
from chat.errors import ChatError, NotAllowed, RoomGone
from chat.models import Room
from chat.presence_batcher import batcher
from chat.room_ids import room_ids
from chat.schemas import (
    CHAT_EVENT_KINDS,
    OUTBOUND,
    MessageIn,
    ReadIn,
    message_frame,
    user_out,
    welcome_frame,
)
from chat.topics import ROUTE, chat_all_group, chat_room_group
from chat.writer import writer
from realtime.fanout.hub import Event
from realtime.socket.closecodes import CloseCode
from realtime.socket.consumer import SocketConsumer
from realtime.socket.errors import Invalid, Refused
from realtime.socket.frames import error_frame

#: the longest slug a room can have (Room.slug); longer names no room
SLUG_MAX = 64


#: what a `?since=` must be (published in the AsyncAPI document's query schema)
SINCE_PATTERN = r"^[0-9]{1,18}$"


def since_param(query_string: bytes) -> int | None:
    """The `?since=<seq>` of a socket URL; None without one, ValueError when malformed."""
    raw = (parse_qs(query_string.decode("latin-1")).get("since") or [None])[0]
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ValueError("must be a seq: 0 or a positive integer, at most 18 digits")
    return int(raw)


class ChatConsumer(SocketConsumer):
    """One socket in one room; heartbeat, `auth`, limits and expiry come from the base."""

    route = ROUTE
    handlers = {"message": (MessageIn, "on_message"), "read": (ReadIn, "on_read")}
    outbound = OUTBOUND
    query_params = {
        "since": {
            "type": "string",
            "pattern": SINCE_PATTERN,
            "description": "resume: the welcome's `history` holds every message after "
            "this seq (at most 500, `complete:false` past that) instead of the last "
            "50; a malformed value is refused with an `invalid` error frame naming "
            "`since` right after a welcome made as without it",
        }
    }

    room: Any = None
    #: the highest seq this socket was sent in its welcome's history
    seen_seq = 0
    #: `?since=`, and why it was refused when it was malformed
    since: int | None = None
    since_refused: str | None = None

    async def authorize(self) -> None:
        try:
            self.since = since_param(self.scope.get("query_string", b""))
        except ValueError as exc:
            self.since_refused = str(exc)
        slug = self.scope.get("url_route", {}).get("kwargs", {}).get("slug")
        if not isinstance(slug, str) or not slug or len(slug) > SLUG_MAX:
            raise RoomGone.refused()
        room_id = room_ids.get(slug)
        if room_id is None:
            room_id = await database_sync_to_async(selectors.room_id_for_slug)(
                slug=slug
            )
            if room_id is None:
                raise RoomGone.refused()
            room_ids.put(slug, room_id)
        self.room = Room(pk=room_id, slug=slug)

    def subscriptions(self) -> list[str]:
        return [chat_room_group(self.room.pk), chat_all_group()]

    def room_key(self) -> str:
        return self.room.slug

    def admit(self) -> None:
        """The room still is (with this id) and lets this user in."""
        access = selectors.room_access(slug=self.room.slug, user=self.user)
        if access.room is None:
            room_ids.forget(self.room.slug)
            raise RoomGone.refused()
        if access.room.pk != self.room.pk:
            # Deleted and made again under its slug since this process cached its id:
            # this socket listens on the old room's topic. Reconnect at once.
            room_ids.forget(self.room.slug)
            raise Refused(CloseCode.SERVICE_RESTART, "the room was made anew")
        if not access.allowed:
            raise NotAllowed.refused()
        self.room = access.room

    def prepare(self, memo: dict[Any, Any]) -> None:
        """History and who is online, once per room and `since` in a batch."""
        key = ("history", self.room.pk, self.since)
        if key not in memo:
            memo[key] = selectors.room_history(room=self.room, since=self.since)
        self.history, self.complete = memo[key]
        key = ("online", self.room.pk)
        if key not in memo:
            memo[key] = selectors.online_summary(room_slug=self.room.slug)
        self.online, self.online_count = memo[key]
        # Each seq once per socket: a live frame of a message the history holds is
        # not sent again (PROTOCOL.md 4).
        self.seen_seq = self.history[-1]["seq"] if self.history else 0

    async def welcome(self) -> dict[str, Any]:
        frame = welcome_frame(
            room_slug=self.room.slug,
            user=user_out(self.user.pk, self.user.get_username()),
            connection_id=self.connection_id,
            heartbeat_interval=int(float(settings.WS_HEARTBEAT_INTERVAL)),
            online=self.online,
            online_count=self.online_count,
            history=self.history,
            complete=self.complete,
        )
        # Sent once: an idle socket holds no copy of it (memory per socket, issue 13).
        self.history = self.online = ()
        return frame

    async def opened(self) -> None:
        if self.since_refused is not None:
            # PROTOCOL.md 5 has no close for a bad URL, and closing would make a client
            # reconnect in a loop with the same URL: the socket opens as without `since`
            # and says so, once (a protocol addition, docs/protocol.md).
            self.send_text(
                error_frame(
                    "invalid",
                    "since ignored: the history is the last 50 messages",
                    {"since": self.since_refused},
                ),
                kind="error",
            )
        batcher.mark(self.room.slug)

    def accepts(self, event: Event) -> bool:
        # The user topic also carries other apps' frames: forward only chat ones; and a
        # message the welcome's history already held goes out once, not twice.
        if event.kind not in CHAT_EVENT_KINDS:
            return False
        return event.seq is None or event.seq > self.seen_seq

    async def on_message(self, frame: MessageIn) -> None:
        """Store through the one service (group commit); the frame comes back via the room."""
        try:
            message, created = await writer().create(
                services.Send(self.room, self.user, frame.body, frame.client_id)
            )
        except ChatError as exc:
            raise exc.socket_error() from None
        except ValidationError as exc:
            # One shape for every error frame's field errors: field -> message.
            errors = {f: " ".join(m) for f, m in exc.message_dict.items()}
            raise Invalid("message refused", errors=errors) from None
        if not created:
            # A resend: the original goes back to this socket only, nothing is stored.
            self.send_frame(message_frame(message, room_slug=self.room.slug))

    async def on_read(self, frame: ReadIn) -> None:
        """Move the read pointer; the `read` frame reaches every socket of the user."""
        await database_sync_to_async(services.read_pointer_move)(
            room=self.room, user=self.user, seq=frame.seq
        )
