"""`/ws/chat/<slug>/`: a room's history, live messages and presence."""

from __future__ import annotations

from typing import Any, NamedTuple
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError

from chat import selectors, services
from chat.errors import ChatError, MessageGone, NotAllowed, RoomGone
from chat.models import Room
from chat.presence_batcher import batcher
from chat.repair import repair
from chat.room_ids import room_ids
from chat.schemas import (
    CHAT_EVENT_KINDS,
    OUTBOUND,
    DeleteIn,
    EditIn,
    MessageIn,
    ReactIn,
    ReadIn,
    TypingIn,
    message_frame,
    user_out,
    welcome_frame,
)
from chat.topics import ROUTE, chat_all_group, chat_room_group
from chat.typing import coalescer as typing_coalescer
from chat.writer import writer
from realtime.fanout.hub import Event
from realtime.socket.closecodes import CloseCode
from realtime.socket.consumer import SocketConsumer
from realtime.socket.errors import Invalid, Refused
from realtime.socket.frames import error_frame

#: the longest slug a room can have (Room.slug); longer names no room
SLUG_MAX = 64


class RoomRef(NamedTuple):
    """The room a handshake names, before the door's batch reads it: its id (from the
    process's slug cache) and slug. A Room instance, built per socket, cost about 5% of
    a handshake's CPU; admit() replaces this with the batch's shared Room."""

    pk: int
    slug: str


#: what a `?since=` must be (published in the AsyncAPI document's query schema)
SINCE_PATTERN = r"^[0-9]{1,18}$"


def since_param(query_string: bytes, name: str = "since") -> int | None:
    """The `?since=<seq>` (or `?rev=<rev>`, `name`) of a socket URL; None without one,
    ValueError when malformed."""
    raw = (parse_qs(query_string.decode("latin-1")).get(name) or [None])[0]
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        what = "a seq" if name == "since" else "a rev"
        raise ValueError(f"must be {what}: 0 or a positive integer, at most 18 digits")
    return int(raw)


class ChatConsumer(SocketConsumer):
    """One socket in one room; heartbeat, `auth`, limits and expiry come from the base."""

    route = ROUTE
    handlers = {
        "message": (MessageIn, "on_message"),
        "read": (ReadIn, "on_read"),
        "edit": (EditIn, "on_edit"),
        "delete": (DeleteIn, "on_delete"),
        "react": (ReactIn, "on_react"),
        "typing": (TypingIn, "on_typing"),
    }
    outbound = OUTBOUND
    query_params = {
        "since": {
            "type": "string",
            "pattern": SINCE_PATTERN,
            "description": "resume: the welcome's `history` holds every message after "
            "this seq (at most 500, `complete:false` past that) instead of the last "
            "50; a malformed value is refused with an `invalid` error frame naming "
            "`since` right after a welcome made as without it",
        },
        "rev": {
            "type": "string",
            "pattern": SINCE_PATTERN,
            "description": "resume changes, with `since`: the welcome's `changes` "
            "holds every message at or before `since` changed after this rev (at "
            "most 500, `complete:false` past that); ignored without `since`; a "
            "malformed value is refused with an `invalid` error frame naming `rev` "
            "right after a welcome made as without it",
        },
    }

    room: Any = None
    #: the room's rev as read before the welcome's rows, and the welcome's changes
    room_rev = 0
    changes: Any = ()
    #: the highest seq this socket was sent in its welcome's history
    seen_seq = 0
    #: `?since=`, and why it was refused when it was malformed
    since: int | None = None
    since_refused: str | None = None
    #: `?rev=`, and why it was refused when it was malformed
    rev: int | None = None
    rev_refused: str | None = None

    async def authorize(self) -> None:
        query = self.scope.get("query_string", b"")
        try:
            self.since = since_param(query)
        except ValueError as exc:
            self.since_refused = str(exc)
        try:
            self.rev = since_param(query, "rev")
        except ValueError as exc:
            self.rev_refused = str(exc)
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
        self.room = RoomRef(room_id, slug)

    def subscriptions(self) -> list[str]:
        return [chat_room_group(self.room.pk), chat_all_group()]

    def room_key(self) -> str:
        return self.room.slug

    @classmethod
    def before_admit(cls, sockets: list[ChatConsumer], memo: dict[Any, Any]) -> None:
        memo["chat.access"] = selectors.rooms_access(
            requests=[(s.room.slug, s.user.pk) for s in sockets]
        )

    def admit(self, memo: dict[Any, Any]) -> None:
        """The room still is (with this id) and lets this user in."""
        access = memo["chat.access"][self.room.slug, self.user.pk]
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

    @classmethod
    def before_prepare(cls, sockets: list[ChatConsumer], memo: dict[Any, Any]) -> None:
        """Every room's rev, history and who is online, for the whole batch at once.

        The revs first, then the rows (PROTOCOL.md 10): a change committed in between
        is in the rows and after this rev (seen twice, harmless), never in neither.
        """
        memo["chat.rev"] = selectors.room_revs(room_ids=[s.room.pk for s in sockets])
        memo["chat.history"] = selectors.rooms_history(
            wants=[(s.room, s.since) for s in sockets]
        )
        memo["chat.online"] = selectors.online_summaries(
            room_slugs=[s.room.slug for s in sockets]
        )

    def prepare(self, memo: dict[Any, Any]) -> None:
        """This socket's welcome rows, from the batch's (changes once per room, `since`
        and `rev` in a batch: a resume with `rev` is rare)."""
        self.room_rev = memo["chat.rev"].get(self.room.pk, 0)
        self.history, self.complete = memo["chat.history"][self.room.pk, self.since]
        self.changes = []
        if self.since is not None and self.rev is not None:
            key = ("changes", self.room.pk, self.since, self.rev)
            if key not in memo:
                memo[key] = selectors.room_changes(
                    room=self.room, since=self.since, rev=self.rev
                )
            self.changes, changes_complete = memo[key]
            self.complete = self.complete and changes_complete
        self.online, self.online_count = memo["chat.online"].get(
            self.room.slug, ([], 0)
        )
        # Each seq once per socket: a live frame of a message the history holds is
        # not sent again (PROTOCOL.md 4).
        self.seen_seq = self.history[-1]["seq"] if self.history else 0

    def entered(self) -> None:
        # Subscribed before admit() read the room: every seq up to that read's last is
        # in this welcome's history, every later one comes live (or is repaired). In
        # the order of the reads: a later read's higher seq set first would have the
        # repair drop the live frames an earlier socket still needs.
        repair.baseline(self.room.pk, self.room.last_seq)

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
            rev=self.room_rev,
            changes=self.changes,
        )
        # Sent once: an idle socket holds no copy of it (memory per socket, issue 13).
        self.history = self.online = self.changes = ()
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
        if self.rev_refused is not None:
            self.send_text(
                error_frame(
                    "invalid",
                    "rev ignored: the welcome has no changes",
                    {"rev": self.rev_refused},
                ),
                kind="error",
            )
        batcher.mark(self.room.slug)
        typists = typing_coalescer.current(self.room.pk)
        if typists is not None:  # someone types already: say so now, not at a change
            self.send_text(typists, kind="typing")

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
                services.Send(
                    self.room, self.user, frame.body, frame.client_id, frame.reply_to
                )
            )
        except ChatError as exc:
            raise exc.socket_error() from None
        except ValidationError as exc:
            raise invalid("message refused", exc) from None
        if not created:
            # A resend: the original goes back to this socket only, nothing is stored;
            # as it is now, when it changed since.
            frame = (
                await database_sync_to_async(selectors.message_state)(
                    room=self.room, message_id=message.pk
                )
                if message.rev
                else None
            )
            self.send_frame(frame or message_frame(message, room_slug=self.room.slug))

    async def on_read(self, frame: ReadIn) -> None:
        """Move the read pointer; the `read` frame reaches every socket of the user."""
        await database_sync_to_async(services.read_pointer_move)(
            room=self.room, user=self.user, seq=frame.seq
        )

    async def on_edit(self, frame: EditIn) -> None:
        """The author replaces a body; `message_updated` comes back via the room."""
        await self._change(
            services.message_edit, frame.id, user=self.user, body=frame.body
        )

    async def on_delete(self, frame: DeleteIn) -> None:
        """The message becomes a tombstone; `message_updated` comes back via the room."""
        await self._change(services.message_delete, frame.id, by=self.user)

    async def on_react(self, frame: ReactIn) -> None:
        """Toggle the user's reaction; `message_updated` comes back via the room."""
        await self._change(
            services.reaction_toggle, frame.id, user=self.user, emoji=frame.emoji
        )

    async def on_typing(self, frame: TypingIn) -> None:
        """Never stored: coalesced per room on every process (chat.typing)."""
        user = user_out(self.user.pk, self.user.get_username())
        typing_coalescer.typed(self.room.pk, user)

    async def _change(self, service: Any, message_id: int, **kwargs: Any) -> None:
        """Run a change service on a message of this room: a refusal is an error frame
        (the socket stays open), a lost room access closes as on connect."""
        try:
            await database_sync_to_async(change_message)(
                service, room=self.room, message_id=message_id, **kwargs
            )
        except ChatError as exc:
            # A refusal naming the message, or an archived room: an error frame; room
            # access lost meanwhile: the close (each refusal says which: socket_error).
            raise exc.socket_error() from None
        except ValidationError as exc:
            raise invalid("change refused", exc) from None


def invalid(detail: str, exc: ValidationError) -> Invalid:
    """A service's field errors as an `invalid` error frame (field -> message)."""
    errors = {f: " ".join(m) for f, m in exc.message_dict.items()}
    return Invalid(detail, errors=errors)


def change_message(service: Any, *, room: Room, message_id: int, **kwargs: Any) -> Any:
    """Look the message up in this room and run `service` on it (database thread)."""
    message = selectors.message_get(room=room, message_id=message_id)
    if message is None:
        raise MessageGone()
    return service(message=message, **kwargs)
