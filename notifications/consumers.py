"""`/ws/notify/user/<id>/`: one user's notifications, unread count and read sync."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from chat import selectors as chat_selectors
from notifications import selectors, services
from notifications.schemas import OUTBOUND, OUTBOUND_KINDS, ReadIn, welcome_frame
from notifications.topics import ROUTE, notify_topic
from realtime.fanout.hub import Event
from realtime.socket.closecodes import CloseCode
from realtime.socket.consumer import SocketConsumer
from realtime.socket.errors import Invalid, Refused


def is_own_path_id(raw: object, user_id: int) -> bool:
    """Whether the id in the path is exactly the user's own (canonical decimal).

    A pure comparison, no lookup: another user's id, a missing user and junk text take
    the same path and the same time, so a refusal never tells whether that user exists.
    """
    return isinstance(raw, str) and raw == str(int(user_id))


class NotifyConsumer(SocketConsumer):
    """The notify socket; heartbeat, `auth`, limits and expiry come from the base."""

    route = ROUTE
    handlers = {"read": (ReadIn, "on_read")}
    outbound = OUTBOUND
    rooms: Any = ()

    async def authorize(self) -> None:
        raw = self.scope.get("url_route", {}).get("kwargs", {}).get("user_id")
        if not is_own_path_id(raw, self.credentials.user_id):
            raise Refused(CloseCode.FORBIDDEN, "not your notifications")

    def subscriptions(self) -> list[str]:
        return [notify_topic(self.credentials.user_id)]

    def prepare(self, memo: dict[Any, Any]) -> None:
        self.unread, self.backlog = selectors.notification_backlog(user_id=self.user.pk)
        # Every room's badge on this one socket: the sidebar's first page.
        self.rooms = chat_selectors.my_rooms(user=self.user)[
            : chat_selectors.WELCOME_ROOMS_MAX
        ]

    async def welcome(self) -> dict[str, Any]:
        unread, backlog, rooms = self.unread, self.backlog, self.rooms
        self.backlog = self.rooms = ()  # sent once: an idle socket holds no copy
        return welcome_frame(
            user_id=self.user.pk,
            username=self.user.get_username(),
            connection_id=self.connection_id,
            heartbeat_interval=int(float(settings.WS_HEARTBEAT_INTERVAL)),
            unread=unread,
            notifications=backlog,
            rooms=list(rooms),
        )

    def accepts(self, event: Event) -> bool:
        # The user topic also carries other apps' frames: forward only notify ones.
        return event.kind in OUTBOUND_KINDS

    async def on_read(self, frame: ReadIn) -> None:
        """Mark one or all read; the new count reaches every notify socket of the user."""
        if frame.all:
            await database_sync_to_async(services.notifications_mark_all_read)(
                user_id=self.user.pk
            )
            return
        count = await database_sync_to_async(services.notification_mark_read)(
            notification_id=frame.id, user_id=self.user.pk
        )
        if count is None:
            # The same answer for someone else's id and for no such id.
            raise Invalid("no such notification", errors={"id": "not found"})
