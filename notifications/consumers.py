"""`/ws/notify/user/<id>/`: one user's notifications, unread count and read sync.

It also carries the `activity` frames of every room its user belongs to: the socket
follows each room's activity topic (chat.topics.chat_activity_topic), taken at the
handshake for the rooms the user belongs to then, and kept in step by the FOLLOW and
UNFOLLOW orders the chat services publish on the user's notify topic after a join,
leave, whitelist grant or revoke, direct room or change of a room's kind (and on the
activity topic itself when the room is deleted). Why per room and not per user:
chat.services.activity.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.conf import settings

from chat import selectors as chat_selectors
from chat.topics import (
    ACTIVITY_TOPIC_PREFIX,
    FOLLOW,
    UNFOLLOW,
    chat_activity_topic,
)
from notifications import selectors, services
from notifications.schemas import OUTBOUND, OUTBOUND_KINDS, ReadIn, welcome_frame
from notifications.topics import ROUTE, notify_topic
from realtime.fanout.hub import Event, hub
from realtime.socket.closecodes import CloseCode
from realtime.socket.consumer import SocketConsumer
from realtime.socket.errors import Invalid, Refused


def is_own_path_id(raw: object, user_id: int) -> bool:
    """Whether the id in the path is exactly the user's own (canonical decimal).

    A pure comparison, no lookup: another user's id, a missing user and junk text take
    the same path and the same time, so a refusal never tells whether that user exists.
    """
    return isinstance(raw, str) and raw == str(int(user_id))


#: the most rooms one notify socket follows (a user in 10,000 rooms would hold 10,000
#: topics): past it, the rooms with the lowest ids (the oldest) get no live activity
#: frames on it; their badges come from `GET /api/me/rooms/`. Later FOLLOW orders past
#: it are not taken either.
ACTIVITY_ROOMS_MAX = 1000


class NotifyConsumer(SocketConsumer):
    """The notify socket; heartbeat, `auth`, limits and expiry come from the base."""

    route = ROUTE
    handlers = {"read": (ReadIn, "on_read")}
    outbound = OUTBOUND
    rooms: Any = ()

    def __init__(self) -> None:
        super().__init__()
        #: the activity topics this socket holds (left at close, in closed_hook)
        self.followed: set[str] = set()
        #: the follows under way: topic -> the token of the latest (an UNFOLLOW pops it)
        self._following: dict[str, object] = {}
        self._follows: set[asyncio.Task[None]] = set()  # their tasks, held

    async def authorize(self) -> None:
        raw = self.scope.get("url_route", {}).get("kwargs", {}).get("user_id")
        if not is_own_path_id(raw, self.credentials.user_id):
            raise Refused(CloseCode.FORBIDDEN, "not your notifications")

    def subscriptions(self) -> list[str]:
        return [notify_topic(self.credentials.user_id)]

    def prepare(self, memo: dict[Any, Any]) -> None:
        self.unread, self.backlog = selectors.notification_backlog(user_id=self.user.pk)
        ids = chat_selectors.belonging_room_ids(user_id=self.user.pk)
        # Followed before the rooms are read (on the loop, this thread waiting; in
        # cluster mode until the groups are joined), as the base subscribes before the
        # database: a message committed meanwhile is in `rooms` or comes live. A change
        # of belonging committed meanwhile comes as an order on the notify topic, held
        # until the welcome is out and carried out then.
        async_to_sync(self._follow_all)(
            [chat_activity_topic(i) for i in ids[-ACTIVITY_ROOMS_MAX:]]
        )
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

    async def _follow_all(self, topics: Iterable[str]) -> None:
        await asyncio.gather(*(self._follow(topic) for topic in topics))

    async def _follow(self, topic: str) -> None:
        """Take `topic`, unless held or under way, or unwanted once taken (UNFOLLOW)."""
        if self.closed or topic in self.followed or topic in self._following:
            return
        topic = sys.intern(topic)  # one string per room, however many sockets hold it
        token = self._following[topic] = object()
        await hub.subscribe(topic, self)
        latest = self._following.get(topic)
        if latest is token:
            del self._following[topic]
        if latest is None or self.closed:  # left meanwhile, or the socket is gone
            if topic not in self.followed:
                hub.drop(topic, self)
        elif latest is token:
            self.followed.add(topic)
        # else: a later FOLLOW (after an UNFOLLOW) is under way and finishes the job

    def _unfollow(self, topic: str) -> None:
        """Leave `topic` now: not one more of its frames reaches this socket."""
        self._following.pop(topic, None)
        if topic in self.followed:
            self.followed.discard(topic)
            hub.drop(topic, self)

    def deliver(self, event: Event) -> None:
        # Orders to follow or leave a room's activity: carried out here, never sent.
        # Before the welcome they wait with the other early events, in order.
        if self._early is None and event.kind in (FOLLOW, UNFOLLOW):
            topic = event.text
            if self.closed or not (
                isinstance(topic, str) and topic.startswith(ACTIVITY_TOPIC_PREFIX)
            ):
                return
            if event.kind == UNFOLLOW:
                self._unfollow(topic)
            elif len(self.followed) + len(self._following) < ACTIVITY_ROOMS_MAX:
                task = asyncio.get_running_loop().create_task(self._follow(topic))
                self._follows.add(task)
                task.add_done_callback(self._follows.discard)
            return
        super().deliver(event)

    async def closed_hook(self) -> None:
        # Left here, not through self.topics: the group leaves (cluster mode) of a
        # user's many rooms go at once, not one round trip after another.
        followed, self.followed = self.followed, set()
        for topic in followed:
            hub.drop(topic, self)

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
