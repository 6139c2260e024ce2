"""The ASGI shell around the socket session: the base consumer every route uses.

The rules of a socket (dispatch table, limits, token bucket, deadlines, backlog bounds)
are the sans-I/O session's (realtime.socket.session); this shell moves frames in and out
and carries out what the session answers. It also owns the handshake (authorize,
register, subscribe, accept, welcome) and the hooks app consumers use: `authorize`,
`subscriptions`, `room_key`, `welcome`, `opened`, `closed_hook`, `accepts`, the handler
table and the `outbound` schemas (every frame sent is checked against them when
WS_CHECK_FRAMES is on). Apps subclass it and write only their handlers; no ORM here.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import os
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.signals import setting_changed
from django.db import InterfaceError, OperationalError
from pydantic import BaseModel

from realtime.fanout.hub import DEGRADED_BODY, Event, hub
from realtime.fanout.topics import user_topic
from realtime.socket import frames
from realtime.socket.auth import (
    BadCredentials,
    Credentials,
    user_for_claims,
    validate_access_token,
)
from realtime.socket.closecodes import CloseCode
from realtime.socket.deadlines import deadlines
from realtime.socket.door import door
from realtime.socket.errors import FrameError, Refused
from realtime.socket.frames import (
    FRAME_WRITER,
    QUEUED_BYTES,
    dumps,
    outbound_problem,
    wire_frame,
    wire_frames,
)
from realtime.socket.schemas import PLUMBING_OUTBOUND, AuthIn, HeartbeatIn, by_type
from realtime.socket.session import (
    Action,
    Close,
    Error,
    Handle,
    Limits,
    Passthrough,
    Reply,
    Session,
)
from realtime.web import metrics
from realtime.web.logs import connection_id as log_connection_id
from realtime.web.logs import trace_id as log_trace_id
from realtime.web.logs import user_id as log_user_id

log = logging.getLogger("realtime.socket")


#: a frame handler as the class holds it: called with (consumer, frame)
Handler = Callable[[Any, Any], Awaitable[None]]

#: WS_CHECK_FRAMES: the last frame found to keep its route's schemas, and that route's
#: table (a fan-out hands the same str to every member: checked once, not per member)
_last_kept: tuple[str | bytes, Mapping[str, type[BaseModel]]] | None = None

#: the most bytes a run of frames hands the transport in one write (deliver_frames).
#: Past the transport's high-water mark the protocol leaves the excess of one write out
#: of the WS_MAX_OUTBOUND_BYTES bound (its overshoot); a longer run goes frame by frame,
#: so a peer that stops reading is held to the bound after one run's 64 KB at most.
RUN_WRITE_MAX = 64 * 1024
#: the error label of each close the session decides, for metrics
_CLOSE_LABELS = {"too_large": "too_large", "binary": "binary"}


class _ConnectionIds:
    """Random connection ids (16 URL-safe characters: 96 bits, as token_urlsafe(12)),
    cut from one read of the system's random source per 256 instead of one each: a
    read per handshake was a visible share of a reconnect storm's CPU."""

    BATCH = 256

    def __init__(self) -> None:
        self._ids: list[str] = []

    def __call__(self) -> str:
        if not self._ids:
            raw = base64.urlsafe_b64encode(secrets.token_bytes(12 * self.BATCH))
            self._ids = [raw[i : i + 16].decode() for i in range(0, len(raw), 16)]
        return self._ids.pop()

    def reset(self) -> None:
        self._ids = []


new_connection_id = _ConnectionIds()
# A forked worker must not hand out its parent's unused ids.
os.register_at_fork(after_in_child=new_connection_id.reset)


@functools.cache
def limits_from_settings(body_limit: bool = True) -> Limits:
    """The session limits of the current settings (read at the first socket, never at
    import; again after a setting changes): one frozen Limits shared by every socket.
    `body_limit=False`: no WS_MAX_BODY_CHARS (a route with no body to bound)."""
    limits = Limits.from_settings(lambda name: getattr(settings, name))
    if not body_limit:
        limits = replace(limits, max_body_chars=None)
    return limits


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("WS_"):  # override_settings, tests' settings fixture
        limits_from_settings.cache_clear()


setting_changed.connect(_settings_changed)


class SocketConsumer:
    """An ASGI websocket app per connection; subclass, set the class attributes, add handlers."""

    #: metrics and log label
    route: ClassVar[str] = "socket"
    #: refuse (HTTP 403, before accept) a handshake without credentials
    requires_auth: ClassVar[bool] = True
    #: JSON routes close binary frames with 1003; echo turns this off
    json_only: ClassVar[bool] = True
    #: apply WS_MAX_BODY_CHARS to a frame's `body` (a too_large error past it)
    body_limit: ClassVar[bool] = True
    #: the explicit dispatch table: client `type` -> (schema, handler method name).
    #: A client's `type` is only ever a key here; it never becomes a method name.
    handlers: ClassVar[Mapping[str, tuple[type[BaseModel], str]]] = {}
    #: the frames this route sends: one model per `type` (the route's schemas module);
    #: JSON routes also send the plumbing's own (error, heartbeat, auth, system)
    outbound: ClassVar[tuple[type[BaseModel], ...]] = ()
    #: the URL query parameters the route reads: name -> JSON schema of the (string)
    #: value, published in /api/asyncapi.json (the gate's `token` is added there)
    query_params: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    #: WS_CHECK_FRAMES: the route's outbound schemas, set on each socket when it is on;
    #: this class-level None is all the send path reads when it is off
    _checked: Mapping[str, type[BaseModel]] | None = None

    _BUILTIN: ClassVar[Mapping[str, tuple[type[BaseModel], str]]] = {
        "heartbeat": (HeartbeatIn, ""),  # answered by the session
        "auth": (AuthIn, "_on_auth"),
    }

    def __init__(self) -> None:
        self.scope: dict[str, Any] = {}
        self.connection_id = new_connection_id()
        self.accepted = False
        self.closed = False
        self.registered = False
        self.user: Any = None
        self.credentials: Credentials | None = None
        self.topics: list[str] = []
        self.session: Session | None = None
        self._writer: asyncio.Task[None] | None = None
        # the slot of the shared deadline timers this socket is in
        # (realtime.socket.deadlines)
        self._slot: int | None = None
        self._timer_at = 0.0
        self._opened = 0.0
        self._close_code: int | None = None
        # Hub events that arrive between subscribe and the welcome: held, so the welcome
        # is always the first frame (None once it went out).
        self._early: list[Event] | None = []
        self._write_frame: Callable[[bytes], bool] | None = None

    # --- the ASGI entry -----------------------------------------------------------------------
    @classmethod
    def as_asgi(cls, **initkwargs: Any) -> Callable[..., Awaitable[None]]:
        """An ASGI app that makes one consumer per connection (as Channels' as_asgi)."""

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            await cls(**initkwargs)(scope, receive, send)

        app.consumer_class = cls  # type: ignore[attr-defined]
        functools.update_wrapper(app, cls, updated=())
        return app

    @classmethod
    def _dispatch(
        cls,
    ) -> tuple[dict[str, type[BaseModel]], dict[str, Handler]]:
        """The class's frame schemas and handler functions, built once per class.

        Per class, not per socket: a table of bound methods on each consumer would be a
        reference cycle, so every closed socket's state would wait for the cyclic
        collector instead of being freed when its task ends (issue 7's soak: RSS crept up
        as the collector's old generation filled with dead sockets).
        """
        built = cls.__dict__.get("_dispatch_table")  # this class's own, not a base's
        if built is None:
            table = {**cls._BUILTIN, **cls.handlers}
            built = (
                {kind: schema for kind, (schema, _) in table.items()},
                {
                    kind: getattr(cls, method)
                    for kind, (_, method) in table.items()
                    if method
                },
            )
            cls._dispatch_table = built
        return built

    @classmethod
    def outbound_schemas(cls) -> Mapping[str, type[BaseModel]]:
        """`{type: model}` of every frame this route sends, built once per class."""
        built = cls.__dict__.get("_outbound_table")  # this class's own, not a base's
        if built is None:
            models = (*PLUMBING_OUTBOUND, *cls.outbound) if cls.json_only else ()
            built = by_type(models)
            cls._outbound_table = built
        return built

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scope = scope
        self.base_send = send
        self._write_frame = scope.get("extensions", {}).get(FRAME_WRITER)
        log_connection_id.set(self.connection_id)
        log_trace_id.set(scope.get("trace_id"))
        try:
            while not self.closed:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.connect":
                    await self._handshake()
                elif kind == "websocket.receive":
                    await self._receive(message)
                elif kind == "websocket.disconnect":
                    self._close_code = self._close_code or message.get("code", 1005)
                    break
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("consumer crashed", extra={"route": self.route})
            metrics.child(metrics.ERRORS, self.route, "internal").inc()
            await self.close(CloseCode.INTERNAL_ERROR)
        finally:
            await self._teardown()

    # --- the handshake -------------------------------------------------------------------------
    async def _handshake(self) -> None:
        # Taken out of the scope, which lives as long as the socket: the door replaces
        # these with the user loaded and the token's claims dropped.
        self.credentials = self.scope.pop("credentials", None)
        self.user = self.scope.get("user")
        if self.requires_auth and self.credentials is None:
            metrics.child(metrics.HANDSHAKES, self.route, "refused_auth").inc()
            await self._deny()
            return
        if self.credentials is not None:
            log_user_id.set(self.credentials.user_id)
        self.session = Session(
            limits=limits_from_settings(self.body_limit),
            schemas=self._dispatch()[0],
            now=time.monotonic(),
            json_only=self.json_only,
        )
        if self.json_only and settings.WS_CHECK_FRAMES:
            self._checked = self.outbound_schemas()
        try:
            await self.authorize()
            topics = list(self.subscriptions())
            if self.credentials is not None:
                topics.append(user_topic(self.credentials.user_id))
            # Subscribed before the database is read: a message committed meanwhile
            # is in the welcome's history or comes live (never neither).
            for topic in topics:
                await hub.subscribe(topic, self)
                self.topics.append(topic)
            hub.add_socket(self)
            if self.credentials is not None or self._uses_database():
                outcome = await door().enter(self)
                if isinstance(outcome, BadCredentials):
                    log.info("socket refused: %s", outcome, extra={"route": self.route})
                    metrics.child(metrics.HANDSHAKES, self.route, "refused_auth").inc()
                    await self._deny()
                    return
                if isinstance(outcome, BaseException):
                    raise outcome
            # A process already degraded told its sockets then; this one hears it after welcome.
            joined_degraded = hub.degraded
            await self._send_raw({"type": "websocket.accept"})
            self.accepted = True
            self._opened = time.monotonic()
            metrics.child(metrics.SOCKETS_OPEN, self.route).inc()
            metrics.child(metrics.HANDSHAKES, self.route, "accepted").inc()
            log.info(
                "socket open",
                extra={
                    "route": self.route,
                    "path": self.scope.get("path"),
                    "event": "open",
                },
            )
            welcome = await self.welcome()
            if welcome is not None:
                self.send_frame(welcome)
            early, self._early = self._early or [], None
            for event in early:
                self.deliver(event)
            if joined_degraded:
                self.send_text(
                    frames.system_frame(DEGRADED_BODY, degraded=True), kind="system"
                )
            await self.opened()
        except Refused as refusal:
            metrics.child(
                metrics.HANDSHAKES, self.route, f"closed_{refusal.close_code}"
            ).inc()
            if not self.accepted:
                await self._send_raw({"type": "websocket.accept"})
                self.accepted = True
            await self.close(refusal.close_code)
            return
        self._set_expiry()
        self._arm_timer()

    @classmethod
    def _uses_database(cls) -> bool:
        """Whether the route has database work at its handshake (admit or prepare)."""
        return cls.admit is not SocketConsumer.admit or (
            cls.prepare is not SocketConsumer.prepare
        )

    async def _deny(self) -> None:
        """Refuse before accept: the server answers HTTP 403."""
        self.closed = True
        await self._send_raw(
            {"type": "websocket.close", "code": int(CloseCode.REFUSED)}
        )

    # --- hooks for apps --------------------------------------------------------------------------
    async def authorize(self) -> None:
        """Before subscribing: raise Refused(4403/4404/...) when the socket may not open.

        No database here where it can be helped (it runs per handshake, unbatched):
        checks that need it belong in admit(). `self.user` may not be loaded yet;
        `self.credentials.user_id` is known.
        """

    @classmethod
    def before_admit(cls, sockets: list[Any], memo: dict[Any, Any]) -> None:
        """In the database thread, before admit(): read what the admit() of these
        sockets (this route's of one batch) needs, in one go, into `memo`."""

    def admit(self, memo: dict[Any, Any]) -> None:
        """In the database thread, before the registry row: raise Refused to refuse.

        Runs in the handshake's one trip to the database, batched with others
        (realtime.socket.door); `self.user` is loaded; `memo` holds what
        before_admit() read for the batch.
        """

    @classmethod
    def before_prepare(cls, sockets: list[Any], memo: dict[Any, Any]) -> None:
        """In the database thread, after the registry rows, before prepare(): read
        what the welcomes of these sockets need, in one go, into `memo` (a query per
        batch instead of one per socket: a reconnect storm's batch spans many rooms)."""

    def prepare(self, memo: dict[Any, Any]) -> None:
        """In the database thread, after the registry row: read what welcome() needs.

        `memo` is shared by the handshakes of one batch: work that is the same for
        several sockets (a room's history) is done once.
        """

    def entered(self) -> None:
        """On the event loop, once the door's batch of this socket is read, before the
        next batch is: the sockets' calls come in the order their reads were made."""

    def subscriptions(self) -> list[str]:
        """The topics this socket listens to, besides its user's own."""
        return []

    def room_key(self) -> str:
        """The registry's room key of this socket (chat: the room slug)."""
        return ""

    async def welcome(self) -> dict[str, Any] | None:
        """The first frame, sent right after accept (from what prepare() read)."""
        return None

    async def opened(self) -> None:
        """Runs after the welcome frame went out (chat announces presence here)."""

    async def closed_hook(self) -> None:
        """Runs once when the socket is gone, after the registry row is removed."""

    async def receive_bytes(self, data: bytes) -> None:
        """Binary frames, on routes that accept them (json_only = False)."""

    async def receive_text(self, text: str) -> None:
        """Text frames, on routes that are not JSON (json_only = False)."""

    def accepts(self, event: Event) -> bool:
        """Whether to forward a hub frame (notify sockets skip room frames, say)."""
        return True

    # --- inbound: the session decides, the shell carries it out ----------------------------------
    async def _receive(self, message: dict[str, Any]) -> None:
        if not self.accepted or self.closed or self.session is None:
            return
        now = time.monotonic()
        text = message.get("text")
        if text is not None:
            actions = self.session.receive_text(text, now)
        else:
            actions = self.session.receive_bytes(message.get("bytes") or b"", now)
        for action in actions:
            await self._perform(action)

    async def _perform(self, action: Action) -> None:
        route = self.route
        if isinstance(action, Handle):
            metrics.child(metrics.FRAMES_IN, route, action.kind).inc()
            await self._handle(action)
        elif isinstance(action, Reply):
            metrics.child(metrics.FRAMES_IN, route, action.kind).inc()
            self.send_text(action.text, kind=action.kind)
        elif isinstance(action, Error):
            metrics.child(metrics.ERRORS, route, action.code).inc()
            if action.code == "rate_limited":
                metrics.child(metrics.RATE_LIMITED, route).inc()
            self.send_text(action.text, kind="error")
        elif isinstance(action, Passthrough):
            binary = isinstance(action.data, bytes)
            metrics.child(
                metrics.FRAMES_IN, route, "binary" if binary else "text"
            ).inc()
            if binary:
                await self.receive_bytes(action.data)  # type: ignore[arg-type]
            else:
                await self.receive_text(action.data)  # type: ignore[arg-type]
        elif isinstance(action, Close):
            if action.cause == "rate_limited":
                metrics.child(metrics.RATE_LIMITED, route).inc()
                metrics.child(metrics.ERRORS, route, "rate_limited").inc()
            elif action.cause in _CLOSE_LABELS:
                metrics.child(metrics.ERRORS, route, _CLOSE_LABELS[action.cause]).inc()
            await self.close(action.code)

    async def _handle(self, action: Handle) -> None:
        assert self.session is not None
        client_id = getattr(action.frame, "client_id", None)
        try:
            await self._dispatch()[1][action.kind](self, action.frame)
        except FrameError as exc:
            if exc.client_id is None:
                exc.client_id = client_id
            for follow_up in self.session.refused(exc):
                await self._perform(follow_up)
        except Refused as refusal:
            await self.close(refusal.close_code)
        except (OperationalError, InterfaceError) as exc:
            # The database is out: no acknowledgement, the socket stays; the service's
            # transaction is whole or absent, so a client_id resend stores exactly one.
            log.warning("database unavailable: %s", type(exc).__name__)
            metrics.child(metrics.ERRORS, self.route, "unavailable").inc()
            self.send_text(
                frames.error_frame(
                    "unavailable",
                    "storage is unavailable; resend later",
                    client_id=client_id,
                ),
                kind="error",
            )

    async def _on_auth(self, frame: AuthIn) -> None:
        if self.credentials is None or self.credentials.method != "token":
            raise FrameError("this socket is not token-authenticated")
        try:
            claims = validate_access_token(frame.token)
        except BadCredentials as exc:
            raise FrameError(f"token refused: {exc}") from None
        from rest_framework_simplejwt.settings import api_settings

        if str(claims.get(api_settings.USER_ID_CLAIM)) != str(self.user.pk):
            raise FrameError("token is for another user")
        try:
            # The user's row as it is now, not as the handshake read it: a revocation
            # whose 4401 close was lost on the way still refuses the new token.
            self.user = await database_sync_to_async(user_for_claims)(claims)
        except BadCredentials as exc:
            raise FrameError(f"token refused: {exc}") from None
        self.credentials = Credentials(
            self.user,
            "token",
            float(claims["exp"]),
            user_id=self.user.pk,
        )
        self._set_expiry()
        self._arm_timer()
        self.send_text(frames.auth_frame(self.credentials.exp or 0), kind="auth")

    # --- deadlines: the session's next one, in the shared timers' slots ----------------------------
    def _set_expiry(self) -> None:
        """Hand the session the credentials' end, in its clock (monotonic)."""
        assert self.session is not None
        exp = self.credentials.exp if self.credentials is not None else None
        self.session.expire_at(
            None if exp is None else time.monotonic() + (exp - time.time())
        )

    def _arm_timer(self) -> None:
        """Be called at the session's next deadline (moved only when it must come sooner).

        Frames push the silence deadline later without touching the timer: when it fires
        early the session says nothing is due and it is set again at the new deadline.
        """
        if self.closed or self.session is None:
            return
        when = self.session.deadline()
        if when is None:
            return
        if self._slot is not None:
            if self._timer_at <= when:
                return
            deadlines.discard(self, self._slot)
        self._timer_at = when
        self._slot = deadlines.add(self, when)

    def _deadline(self) -> None:
        self._slot = None
        if self.closed or self.session is None:
            return
        action = self.session.check(time.monotonic())
        if action is not None:
            asyncio.get_running_loop().create_task(self.close(action.code))
            return
        self._arm_timer()

    # --- outbound ------------------------------------------------------------------------------------
    def send_frame(self, frame: Mapping[str, Any]) -> None:
        """Encode and queue one frame for this socket only."""
        self.send_text(dumps(frame), kind=str(frame.get("type", "")))

    def send_text(self, text: str, *, kind: str = "") -> None:
        """Queue an encoded frame; past the backlog bounds the socket closes 4503."""
        self._enqueue(text, kind)

    def send_bytes(self, data: bytes, *, kind: str = "binary") -> None:
        """Queue a binary frame, in order with text frames and under the same bounds."""
        self._enqueue(data, kind)

    def _enqueue(self, item: str | bytes, kind: str) -> None:
        session = self.session
        if self.closed or session is None:
            return
        if self._checked is not None and not self._keeps_schema(item, self._checked):
            return
        if self._writer is None and not session.outbox:
            metrics.frames_out(self.route, kind).inc()
            self._send_eagerly(item)
            return
        # The transport is paused (the peer is not reading) or busy: the frame waits,
        # counted by its size in memory against WS_MAX_OUTBOUND_BYTES.
        waiting = len(session.outbox)
        verdict = session.push(item, sys.getsizeof(item), buffered=self._in_transport())
        if verdict is not None:
            self._too_slow(verdict, dropped=waiting + 1)
            return
        if session.dropping:
            return  # the backlog passed its bound before: the close is on its way
        metrics.frames_out(self.route, kind).inc()
        metrics.OUTBOUND_BACKLOG.observe(len(session.outbox))
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._drain())

    def _keeps_schema(
        self, item: str | bytes, table: Mapping[str, type[BaseModel]]
    ) -> bool:
        """WS_CHECK_FRAMES: whether a frame keeps the route's schemas; if not, it is a
        bug: logged, counted, not sent, and the socket closes 1011 (tests fail loudly)."""
        global _last_kept
        if _last_kept is not None and _last_kept[0] is item and _last_kept[1] is table:
            return True  # the same frame of a fan-out, checked for the member before
        problem = outbound_problem(item, table)
        if problem is None:
            _last_kept = (item, table)
            return True
        log.error(
            "frame breaks its schema: %s",
            problem,
            extra={"route": self.route, "frame": str(item[:300])},
        )
        metrics.child(metrics.FRAMES_BROKEN, self.route).inc()
        asyncio.get_running_loop().create_task(self.close(CloseCode.INTERNAL_ERROR))
        return False

    def _in_transport(self) -> int:
        """Bytes the server's transport holds for this socket (0 outside our server)."""
        queued = self.scope.get("extensions", {}).get(QUEUED_BYTES)
        return queued() if queued is not None else 0

    def _too_slow(self, close: Close, *, dropped: int) -> None:
        """The backlog passed its bound (frames or bytes): it is dropped; close 4503."""
        metrics.child(metrics.BACKLOG_CLOSED, self.route).inc()
        metrics.child(metrics.FRAMES_DROPPED, "backlog").inc(dropped)
        asyncio.get_running_loop().create_task(self.close(close.code))

    def _send_eagerly(self, item: str | bytes) -> None:
        """Send now, without a task, when the transport takes the frame at once.

        A broadcast reaches every member's socket; a task per member per frame was the
        largest cost of fan-out. Our server (realtime.server.protocols) takes the frame's
        bytes, encoded once for all members (frames.wire_frame). Otherwise the server's
        send completes without suspending while its transport is writable, so its first
        step is driven here (what Python 3.12's eager tasks do); only a send that must
        wait (flow control) gets a writer task.
        """
        if self._write_frame is not None and isinstance(item, str):
            if self._write_frame(wire_frame(item)):
                return
        self._send_through_server(item)

    def _send_through_server(self, item: str | bytes) -> None:
        key = "bytes" if isinstance(item, bytes) else "text"
        coro = self.base_send({"type": "websocket.send", key: item})
        try:
            waiting = coro.send(None)
        except StopIteration:
            return
        except Exception:
            return  # the peer went away; the disconnect message ends the consumer
        self._writer = asyncio.get_running_loop().create_task(
            self._finish_send(coro, waiting)
        )

    async def _finish_send(self, coro: Any, waiting: Any) -> None:
        """Finish a send that suspended on `waiting`, then drain what queued meanwhile."""
        try:
            while True:
                if waiting is None:  # a bare yield (sleep(0)): just let the loop turn
                    await asyncio.sleep(0)
                else:
                    await asyncio.wait((waiting,))
                try:
                    waiting = coro.send(None)
                except StopIteration:
                    break
        except asyncio.CancelledError:
            coro.close()
            raise
        except Exception:
            coro.close()
            if self.session is not None:
                self.session.drop_backlog()
            self._writer = None
            return
        await self._drain()

    async def _drain(self) -> None:
        session = self.session
        assert session is not None
        try:
            # Runs on after close() began: close() waits for what was queued before it.
            while (item := session.pop()) is not None:
                key = "bytes" if isinstance(item, bytes) else "text"
                await self.base_send({"type": "websocket.send", key: item})
        except Exception:
            # The peer went away mid-send; the disconnect message ends the consumer.
            session.drop_backlog()
        finally:
            self._writer = None

    def deliver(self, event: Event) -> None:
        """A hub event: forward the frame, or close when told (only this user's, if named)."""
        if self._early is not None:
            self._early.append(event)
            return
        if event.user_id is not None and (
            self.user is None or self.user.pk != event.user_id
        ):
            return
        if event.close_code is not None:
            asyncio.get_running_loop().create_task(self.close(event.close_code))
            return
        if event.text is not None and self.accepts(event):
            self.send_text(event.text, kind=event.kind)

    def deliver_frames(self, run: Sequence[Event]) -> None:
        """deliver() of a run of one topic's frames (text, for every user), in order.

        The frames this socket takes go to its transport in one write when it takes
        them at once (see Hub.deliver_run); otherwise each goes as deliver() sends it.
        """
        if self._early is not None:
            self._early.extend(run)
            return
        kept = [event for event in run if self.accepts(event)]
        if self._checked is not None:
            # A frame that breaks its schema is reported (once) and not sent.
            checked = self._checked
            kept = [e for e in kept if self._keeps_schema(e.text, checked)]  # type: ignore[arg-type]
        if not kept:
            return
        session = self.session
        if (
            len(kept) > 1
            and self._write_frame is not None
            and self._writer is None
            and session is not None
            and not session.outbox
            and not self.closed
        ):
            data = wire_frames(run, [event.text for event in kept])  # type: ignore[misc]
            if len(data) <= RUN_WRITE_MAX and self._write_frame(data):
                kind = kept[0].kind
                if all(event.kind == kind for event in kept):
                    metrics.frames_out(self.route, kind).inc(len(kept))
                else:
                    for event in kept:
                        metrics.frames_out(self.route, event.kind).inc()
                return
        for event in kept:
            self.send_text(event.text, kind=event.kind)  # type: ignore[arg-type]

    async def close(self, code: int = CloseCode.NORMAL) -> None:
        """Flush what is queued, then close with `code` (once)."""
        if self.closed:
            return
        self.closed = True
        if self.session is not None:
            self.session.close()
        self._close_code = int(code)
        if self._writer is not None and code != CloseCode.TOO_SLOW:
            try:
                await asyncio.wait_for(asyncio.shield(self._writer), timeout=1.0)
            except Exception:
                # the peer is slow or gone; close anyway
                if self.session is not None:
                    self.session.drop_backlog()
        try:
            await self._send_raw({"type": "websocket.close", "code": int(code)})
        except Exception:
            log.debug("close on a socket already gone")

    async def _send_raw(self, message: dict[str, Any]) -> None:
        await self.base_send(message)

    async def _teardown(self) -> None:
        self.closed = True
        if self.session is not None:
            self.session.drop_backlog()
        if self._slot is not None:
            deadlines.discard(self, self._slot)
            self._slot = None
        hub.discard_socket(self)
        for topic in self.topics:
            try:
                await hub.unsubscribe(topic, self)
            except Exception:
                log.exception("unsubscribe failed")
        if self.accepted:
            metrics.child(metrics.SOCKETS_OPEN, self.route).dec()
            log.info(
                "socket close",
                extra={
                    "route": self.route,
                    "event": "close",
                    "close_code": self._close_code,
                    "duration": round(time.monotonic() - self._opened, 3)
                    if self._opened
                    else 0,
                },
            )
        if self.registered:
            self.registered = False
            await door().leave(self.connection_id)
        try:
            await self.closed_hook()
        except Exception:
            log.exception("close hook failed")
