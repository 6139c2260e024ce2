"""The base consumer every socket route uses.

It owns what every route shares: the handshake (authorize, register, subscribe, accept,
welcome), JSON envelope parsing, dispatch through an explicit table, error frames, the
per-socket token bucket, the frame and body limits, heartbeat and idle timeout, token
expiry and in-band refresh, a bounded outbound queue, and closing cleanly on any error.
Apps subclass it and write only their own handlers; they never touch the ORM here.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import InterfaceError, OperationalError
from pydantic import BaseModel, ConfigDict, Field

from realtime.fanout.hub import DEGRADED_BODY, Event, hub
from realtime.registry import services
from realtime.registry.process import PROCESS_ID
from realtime.socket import frames
from realtime.socket.auth import (
    BadCredentials,
    Credentials,
    token_version_current,
    validate_access_token,
)
from realtime.socket.closecodes import CloseCode
from realtime.socket.errors import FrameError, RateLimited, Refused, TooLarge
from realtime.socket.frames import (
    FRAME_WRITER,
    QUEUED_BYTES,
    dumps,
    parse_frame,
    wire_frame,
)
from realtime.web import metrics
from realtime.web.logs import connection_id as log_connection_id
from realtime.web.logs import trace_id as log_trace_id
from realtime.web.logs import user_id as log_user_id

log = logging.getLogger("realtime.socket")


def user_topic(user_id: int) -> str:
    """The topic every socket of a user joins (kicks on logout, read-count sync)."""
    return f"user.{int(user_id)}"


class HeartbeatIn(BaseModel):
    """`{"type":"heartbeat"}`."""

    model_config = ConfigDict(extra="forbid")
    type: str


class AuthIn(BaseModel):
    """`{"type":"auth","token":str}`: a fresh access token for the same user."""

    model_config = ConfigDict(extra="forbid")
    type: str
    token: str = Field(min_length=1, max_length=4096)


#: a frame handler as the class holds it: called with (consumer, frame)
Handler = Callable[[Any, Any], Awaitable[None]]


class SocketConsumer:
    """An ASGI websocket app per connection; subclass, set the class attributes, add handlers."""

    #: metrics and log label
    route: ClassVar[str] = "socket"
    #: refuse (HTTP 403, before accept) a handshake without credentials
    requires_auth: ClassVar[bool] = True
    #: JSON routes close binary frames with 1003; echo turns this off
    json_only: ClassVar[bool] = True
    # Class defaults, set on a socket only once it has a backlog (per-socket memory).
    #: the size in memory (sys.getsizeof) of the frames in the outbox
    _outbox_bytes: int = 0
    #: set once the backlog passed its bound: later frames are dropped, not queued
    _too_slow_closing: bool = False
    #: the explicit dispatch table: client `type` -> (schema, handler method name).
    #: A client's `type` is only ever a key here; it never becomes a method name.
    handlers: ClassVar[Mapping[str, tuple[type[BaseModel], str]]] = {}

    _BUILTIN: ClassVar[Mapping[str, tuple[type[BaseModel], str]]] = {
        "heartbeat": (HeartbeatIn, "_on_heartbeat"),
        "auth": (AuthIn, "_on_auth"),
    }

    def __init__(self) -> None:
        self.scope: dict[str, Any] = {}
        self.connection_id = secrets.token_urlsafe(12)
        self.accepted = False
        self.closed = False
        self.registered = False
        self.user: Any = None
        self.credentials: Credentials | None = None
        self.topics: list[str] = []
        # Frames waiting for a slow transport; () until one must wait (an empty deque
        # costs 600 bytes, on every one of 10,000 idle sockets).
        self._outbox: deque[str | bytes] | tuple[()] = ()
        self._writer: asyncio.Task[None] | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._expiry_timer: asyncio.TimerHandle | None = None
        self._last_frame = 0.0
        self._opened = 0.0
        self._close_code: int | None = None
        self._invalid = 0
        self._rate_abuse = 0
        # Hub events that arrive between subscribe and the welcome: held, so the welcome
        # is always the first frame (None once it went out).
        self._early: list[Event] | None = []
        self._bucket: Any = None
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
                {kind: getattr(cls, method) for kind, (_, method) in table.items()},
            )
            cls._dispatch_table = built
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
            metrics.ERRORS.labels(route=self.route, code="internal").inc()
            await self.close(CloseCode.INTERNAL_ERROR)
        finally:
            await self._teardown()

    # --- the handshake -------------------------------------------------------------------------
    async def _handshake(self) -> None:
        await hub.start()
        self.credentials = self.scope.get("credentials")
        self.user = self.scope.get("user")
        if self.requires_auth and self.credentials is None:
            metrics.HANDSHAKES.labels(route=self.route, outcome="refused_auth").inc()
            await self._deny()
            return
        if self.credentials is not None:
            log_user_id.set(self.user.pk)
        from realtime.socket.ratelimit import TokenBucket

        self._bucket = TokenBucket(
            float(settings.WS_MESSAGE_RATE), float(settings.WS_MESSAGE_BURST)
        )
        try:
            await self.authorize()
            if self.credentials is not None:
                await self._register()
            topics = list(self.subscriptions())
            if self.credentials is not None:
                topics.append(user_topic(self.user.pk))
            for topic in topics:
                await hub.subscribe(topic, self)
                self.topics.append(topic)
            hub.sockets.add(self)
            # A process already degraded told its sockets then; this one hears it after welcome.
            joined_degraded = hub.degraded
            await self._send_raw({"type": "websocket.accept"})
            self.accepted = True
            self._opened = self._last_frame = time.monotonic()
            metrics.SOCKETS_OPEN.labels(route=self.route).inc()
            metrics.HANDSHAKES.labels(route=self.route, outcome="accepted").inc()
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
            metrics.HANDSHAKES.labels(
                route=self.route, outcome=f"closed_{refusal.close_code}"
            ).inc()
            if not self.accepted:
                await self._send_raw({"type": "websocket.accept"})
                self.accepted = True
            await self.close(refusal.close_code)
            return
        self._schedule_idle_check()
        self._schedule_expiry()

    async def _deny(self) -> None:
        """Refuse before accept: the server answers HTTP 403."""
        self.closed = True
        await self._send_raw({"type": "websocket.close", "code": 1008})

    async def _register(self) -> None:
        ok = await database_sync_to_async(services.connection_open)(
            connection_id=self.connection_id,
            process_id=PROCESS_ID,
            user_id=self.user.pk,
            route=self.route,
            room_key=self.room_key(),
            max_per_user=int(settings.WS_MAX_CONNECTIONS_PER_USER),
            lease_seconds=float(settings.WS_PROCESS_LEASE_SECONDS),
        )
        if not ok:
            raise Refused(CloseCode.RATE_LIMITED, "too many sockets for this user")
        self.registered = True

    # --- hooks for apps --------------------------------------------------------------------------
    async def authorize(self) -> None:
        """Raise Refused(4403/4404/...) when this user may not open this socket."""

    def subscriptions(self) -> list[str]:
        """The topics this socket listens to, besides its user's own."""
        return []

    def room_key(self) -> str:
        """The registry's room key of this socket (chat: the room slug)."""
        return ""

    async def welcome(self) -> dict[str, Any] | None:
        """The first frame, sent right after accept."""
        return None

    async def opened(self) -> None:
        """Runs after the welcome frame went out (chat announces presence here)."""

    async def closed_hook(self) -> None:
        """Runs once when the socket is gone, after the registry row is removed."""

    async def receive_bytes(self, data: bytes) -> None:
        """Binary frames, on routes that accept them (json_only = False)."""

    async def receive_text(self, text: str) -> None:
        """Text frames, on routes that are not JSON (json_only = False)."""

    # --- inbound ---------------------------------------------------------------------------------
    async def _receive(self, message: dict[str, Any]) -> None:
        if not self.accepted or self.closed:
            return
        self._last_frame = time.monotonic()
        text = message.get("text")
        data = message.get("bytes")
        size = (
            len(data)
            if data is not None
            else len(text.encode())
            if text is not None
            else 0
        )
        if size > int(settings.WS_MAX_FRAME_BYTES):
            metrics.ERRORS.labels(route=self.route, code="too_large").inc()
            await self.close(CloseCode.MESSAGE_TOO_BIG)
            return
        if not self._bucket.take():
            await self._rate_limited()
            return
        if self._bucket.tokens >= self._bucket.burst - 1.0001:
            # The bucket was full: the client paused long enough, so earlier abuse is
            # forgiven and only a sustained flood reaches WS_RATE_ABUSE_LIMIT.
            self._rate_abuse = 0
        if text is None:
            if self.json_only:
                metrics.ERRORS.labels(route=self.route, code="binary").inc()
                await self.close(CloseCode.UNSUPPORTED_DATA)
                return
            metrics.FRAMES_IN.labels(route=self.route, type="binary").inc()
            await self.receive_bytes(data or b"")
            return
        if not self.json_only:
            metrics.FRAMES_IN.labels(route=self.route, type="text").inc()
            await self.receive_text(text)
            return
        try:
            schemas, handlers = self._dispatch()
            frame = parse_frame(text, schemas, max_body_chars=self.max_body_chars())
        except FrameError as exc:
            await self._frame_error(exc)
            return
        kind = frame.type  # type: ignore[attr-defined]
        metrics.FRAMES_IN.labels(route=self.route, type=kind).inc()
        try:
            await handlers[kind](self, frame)
        except FrameError as exc:
            await self._frame_error(exc)
        except Refused as refusal:
            await self.close(refusal.close_code)
        except (OperationalError, InterfaceError) as exc:
            # The database is out: no acknowledgement, the socket stays; the service's
            # transaction is whole or absent, so a client_id resend stores exactly one.
            log.warning("database unavailable: %s", type(exc).__name__)
            metrics.ERRORS.labels(route=self.route, code="unavailable").inc()
            self.send_text(
                frames.error_frame(
                    "unavailable", "storage is unavailable; resend later"
                ),
                kind="error",
            )

    def max_body_chars(self) -> int | None:
        """The body limit this route applies (chat: WS_MAX_BODY_CHARS)."""
        return int(settings.WS_MAX_BODY_CHARS)

    async def _frame_error(self, exc: FrameError) -> None:
        metrics.ERRORS.labels(route=self.route, code=exc.code).inc()
        self.send_text(
            frames.error_frame(exc.code, exc.detail, exc.errors), kind="error"
        )
        if isinstance(exc, TooLarge | RateLimited):
            return
        self._invalid += 1
        if self._invalid >= int(settings.WS_MAX_INVALID_FRAMES):
            await self.close(CloseCode.INVALID_FRAMES)

    async def _rate_limited(self) -> None:
        metrics.RATE_LIMITED.labels(route=self.route).inc()
        metrics.ERRORS.labels(route=self.route, code="rate_limited").inc()
        self._rate_abuse += 1
        if self._rate_abuse >= int(settings.WS_RATE_ABUSE_LIMIT):
            await self.close(CloseCode.RATE_LIMITED)
            return
        self.send_text(frames.error_frame("rate_limited", "slow down"), kind="error")

    async def _on_heartbeat(self, frame: HeartbeatIn) -> None:
        self.send_text(frames.heartbeat_frame(), kind="heartbeat")

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
        if not token_version_current(claims, self.user):
            raise FrameError("token refused: revoked by a credential change")
        self.credentials = Credentials(self.user, "token", float(claims["exp"]))
        self._schedule_expiry()
        self.send_text(frames.auth_frame(self.credentials.exp or 0), kind="auth")

    # --- timers ------------------------------------------------------------------------------------
    def _schedule_idle_check(self) -> None:
        interval = float(settings.WS_HEARTBEAT_INTERVAL)
        if interval <= 0 or self.closed:
            return
        timeout = interval * 2.5
        remaining = self._last_frame + timeout - time.monotonic()
        loop = asyncio.get_running_loop()
        if remaining <= 0:
            loop.create_task(self.close(CloseCode.HEARTBEAT_TIMEOUT))
            return
        self._idle_timer = loop.call_later(remaining, self._schedule_idle_check)

    def _schedule_expiry(self) -> None:
        if self.credentials is None or self.credentials.exp is None or self.closed:
            return
        exp = self.credentials.exp

        def check() -> None:
            if (
                self.credentials is not None
                and self.credentials.exp == exp
                and not self.closed
            ):
                asyncio.get_running_loop().create_task(
                    self.close(CloseCode.AUTH_EXPIRED)
                )

        delay = max(0.0, exp - time.time())
        if self._expiry_timer is not None:  # a refreshed token: the old deadline goes
            self._expiry_timer.cancel()
        self._expiry_timer = asyncio.get_running_loop().call_later(delay, check)

    # --- outbound ------------------------------------------------------------------------------------
    def send_frame(self, frame: Mapping[str, Any]) -> None:
        """Encode and queue one frame for this socket only."""
        self.send_text(dumps(frame), kind=str(frame.get("type", "")))

    def send_text(self, text: str, *, kind: str = "") -> None:
        """Queue an encoded frame; past the backlog bound the socket closes 4503."""
        self._enqueue(text, kind)

    def send_bytes(self, data: bytes, *, kind: str = "binary") -> None:
        """Queue a binary frame, in order with text frames and under the same bound."""
        self._enqueue(data, kind)

    def _enqueue(self, text: str | bytes, kind: str) -> None:
        if self.closed:
            return
        if self._writer is None and not self._outbox:
            metrics.frames_out(self.route, kind).inc()
            self._send_eagerly(text)
            return
        # The transport is paused (the peer is not reading) or busy: the frame waits.
        if self._too_slow_closing:
            return  # its backlog was dropped and its close is on the way
        size = sys.getsizeof(text)
        if len(self._outbox) >= int(settings.WS_MAX_OUTBOUND_BACKLOG) or (
            self._outbox_bytes + size + self._queued_in_transport()
            > int(settings.WS_MAX_OUTBOUND_BYTES)
        ):
            self._too_slow()
            return
        metrics.frames_out(self.route, kind).inc()
        if self._outbox:
            metrics.OUTBOUND_BACKLOG.observe(len(self._outbox))
        else:
            self._outbox = deque()
        self._outbox.append(text)
        self._outbox_bytes += size
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._drain())

    def _queued_in_transport(self) -> int:
        """Bytes the server's transport holds for this socket (0 outside our server)."""
        queued = self.scope.get("extensions", {}).get(QUEUED_BYTES)
        return queued() if queued is not None else 0

    def _too_slow(self) -> None:
        """The backlog passed its bound (frames or bytes): drop it, close 4503."""
        metrics.BACKLOG_CLOSED.labels(route=self.route).inc()
        metrics.FRAMES_DROPPED.labels(reason="backlog").inc(len(self._outbox) + 1)
        self._drop_outbox()
        self._too_slow_closing = True
        asyncio.get_running_loop().create_task(self.close(CloseCode.TOO_SLOW))

    def _drop_outbox(self) -> None:
        self._outbox = ()
        self._outbox_bytes = 0

    def _send_eagerly(self, item: str | bytes) -> None:
        """Send now, without a task, when the transport takes the frame at once.

        A broadcast reaches every member's socket; a task per member per frame was the
        largest cost of fan-out. Our server (realtime.server.protocols) takes the frame's bytes,
        encoded once for all members (realtime.socket.frames). Otherwise the server's send
        completes without suspending while its transport is writable, so its first step
        is driven here (what Python 3.12's eager tasks do); only a send that must wait
        (flow control) gets a writer task.
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
            self._drop_outbox()
            self._writer = None
            return
        await self._drain()

    async def _drain(self) -> None:
        try:
            # Runs on after close() began: close() waits for what was queued before it.
            while self._outbox:
                item = self._outbox.popleft()  # type: ignore[union-attr]
                key = "bytes" if isinstance(item, bytes) else "text"
                await self.base_send({"type": "websocket.send", key: item})
                # Counted until the transport took it (then queued_bytes() counts it).
                self._outbox_bytes = max(0, self._outbox_bytes - sys.getsizeof(item))
        except Exception:
            # The peer went away mid-send; the disconnect message ends the consumer.
            self._drop_outbox()
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

    def accepts(self, event: Event) -> bool:
        """Whether to forward a hub frame (notify sockets skip room frames, say)."""
        return True

    async def close(self, code: int = CloseCode.NORMAL) -> None:
        """Flush what is queued, then close with `code` (once)."""
        if self.closed:
            return
        self.closed = True
        self._close_code = int(code)
        if self._writer is not None and code != CloseCode.TOO_SLOW:
            try:
                await asyncio.wait_for(asyncio.shield(self._writer), timeout=1.0)
            except Exception:
                self._drop_outbox()  # the peer is slow or gone; close anyway
        try:
            await self._send_raw({"type": "websocket.close", "code": int(code)})
        except Exception:
            log.debug("close on a socket already gone")

    async def _send_raw(self, message: dict[str, Any]) -> None:
        await self.base_send(message)

    async def _teardown(self) -> None:
        self.closed = True
        self._drop_outbox()
        for timer in (self._idle_timer, self._expiry_timer):
            if timer is not None:
                timer.cancel()
        self._idle_timer = self._expiry_timer = None
        hub.sockets.discard(self)
        for topic in self.topics:
            try:
                await hub.unsubscribe(topic, self)
            except Exception:
                log.exception("unsubscribe failed")
        if self.accepted:
            metrics.SOCKETS_OPEN.labels(route=self.route).dec()
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
            try:
                await database_sync_to_async(services.connection_close)(
                    connection_id=self.connection_id
                )
            except Exception:
                log.exception("registry row not removed; the lease sweep will")
        try:
            await self.closed_hook()
        except Exception:
            log.exception("close hook failed")
