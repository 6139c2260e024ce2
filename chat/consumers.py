"""`/ws/chat/<slug>/`: a room's history, live messages and presence."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError

from chat import selectors, services
from chat.errors import ChatError, NotAllowed, RoomGone
from chat.presence_batcher import batcher
from chat.schemas import (
    CHAT_EVENT_KINDS,
    OUTBOUND,
    MessageIn,
    message_frame,
    user_out,
    welcome_frame,
)
from chat.topics import ROUTE, chat_all_group, chat_room_group
from chat.writer import writer
from realtime.fanout.hub import Event
from realtime.socket.consumer import SocketConsumer
from realtime.socket.errors import Invalid


def since_param(query_string: bytes) -> int | None:
    """The `?since=<seq>` of a socket URL: a non-negative integer, else ignored."""
    raw = (parse_qs(query_string.decode("latin-1")).get("since") or [None])[0]
    if raw is None or not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        return None
    return int(raw)


class ChatConsumer(SocketConsumer):
    """One socket in one room; heartbeat, `auth`, limits and expiry come from the base."""

    route = ROUTE
    handlers = {"message": (MessageIn, "on_message")}
    outbound = OUTBOUND

    room: Any = None

    async def authorize(self) -> None:
        slug = self.scope.get("url_route", {}).get("kwargs", {}).get("slug")
        if not isinstance(slug, str) or not slug:
            raise RoomGone.refused()
        access = await database_sync_to_async(selectors.room_access)(
            slug=slug, user=self.user
        )
        if access.room is None:
            raise RoomGone.refused()
        if not access.allowed:
            raise NotAllowed.refused()
        self.room = access.room

    def subscriptions(self) -> list[str]:
        return [chat_room_group(self.room.pk), chat_all_group()]

    def room_key(self) -> str:
        return self.room.slug

    async def welcome(self) -> dict[str, Any]:
        since = since_param(self.scope.get("query_string", b""))
        data = await database_sync_to_async(selectors.room_welcome)(
            room=self.room, user=self.user, since=since
        )
        if not data.allowed:  # a revoke committed between authorize and subscribe
            raise NotAllowed.refused()
        return welcome_frame(
            room_slug=self.room.slug,
            user=user_out(self.user.pk, self.user.get_username()),
            connection_id=self.connection_id,
            heartbeat_interval=int(float(settings.WS_HEARTBEAT_INTERVAL)),
            online=data.online,
            online_count=data.online_count,
            history=data.history,
            complete=data.complete,
        )

    async def opened(self) -> None:
        batcher.mark(self.room.slug)

    def accepts(self, event: Event) -> bool:
        # The user topic also carries other apps' frames: forward only chat ones.
        return event.kind in CHAT_EVENT_KINDS

    async def on_message(self, frame: MessageIn) -> None:
        """Store through the one service (group commit); the frame comes back via the room."""
        try:
            message, created = await writer().create(
                services.Send(self.room, self.user, frame.body, frame.client_id)
            )
        except ChatError as exc:
            raise exc.refused() from None
        except ValidationError as exc:
            # One shape for every error frame's field errors: field -> message.
            errors = {f: " ".join(m) for f, m in exc.message_dict.items()}
            raise Invalid("message refused", errors=errors) from None
        if not created:
            # A resend: the original goes back to this socket only, nothing is stored.
            self.send_frame(message_frame(message, room_slug=self.room.slug))
