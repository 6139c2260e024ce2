"""One socket URL kept connected: the asyncio shell around the pure parts.

`Client` dials, reads the welcome, sends heartbeats and watches for a dead link,
refreshes the token on the open socket, flushes the send queue (outbox.py) and, when
the socket closes, does what policy.py says for its close code (the same table as the
browser client's). chat.py and notify.py plug their routes into its hooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random as _random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlencode

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidStatus,
    InvalidURI,
    WebSocketException,
)

from realtime_client.errors import (
    AuthError,
    ClientClosedError,
    FatalCloseError,
    HttpError,
    RealtimeError,
)
from realtime_client.events import LIFECYCLE_EVENTS, Emitter, Sent, State
from realtime_client.outbox import Frame, Outbox, new_client_id
from realtime_client.policy import (
    AUTH_STREAK_RESET,
    DEFAULT_CLOSE_POLICY,
    MAX_AUTH_STREAK,
    Action,
    ClosePolicy,
    Options,
    SendPacer,
    backoff_delay,
    close_policy,
    handshake_policy,
    refresh_delay,
    retry_delay,
    should_check_credentials,
)
from realtime_client.rest import Auth, jwt_exp

log = logging.getLogger("realtime_client")

#: the largest frame the client takes: a welcome may carry 500 messages of 4000 characters
MAX_FRAME_BYTES = 32 * 1024 * 1024


@dataclass(slots=True)
class _Drop:
    """How one connection attempt ended."""

    policy: ClosePolicy
    code: int | None = None
    reason: str = ""
    #: the HTTP status of a refused handshake
    status: int | None = None


class _Stop(Exception):
    """Unwinds the run loop: the client is closed (the detail is already emitted)."""


class Client(Emitter):
    """One socket URL kept connected: states, reconnects, heartbeats, tokens, queue, events.

    `url`: the socket's ws(s):// (or http(s)://) URL with its path. Credentials: `auth`
    (refreshable JWTs, see rest.Auth) or a fixed access `token`; sent in the
    `Authorization` header, never in the URL.
    """

    def __init__(
        self,
        url: str,
        *,
        auth: Auth | None = None,
        token: str | None = None,
        options: Options | None = None,
        expect_welcome: bool = True,
        event_buffer: int = 10_000,
        max_body_chars: int | None = None,
        make_client_id: Callable[[], str] = new_client_id,
        random: Callable[[], float] = _random.random,
        connector: Callable[..., Awaitable[Any]] = ws_connect,
    ) -> None:
        super().__init__(event_buffer)
        self.url = url
        self.auth = auth
        self._token = token
        self.options = options or Options()
        self._expect_welcome = expect_welcome
        self._random = random
        self._connector = connector
        self._outbox = Outbox(
            self.options.max_queue,
            make_client_id=make_client_id,
            max_body_chars=max_body_chars,
        )
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}

        self._state = State.IDLE
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ws: Any = None
        self._wire: asyncio.Queue[str] | None = None
        self._session_tasks: list[asyncio.Task[Any]] = []
        self._retry_now = asyncio.Event()
        self._close_request: tuple[int, str] = (1000, "")
        self._final: FatalCloseError | None = None
        self._attempt = 0
        self._auth_streak = 0
        self._refusals = 0
        self._opened_at: float | None = None
        #: welcomes so far (wait_open() returns after the next one)
        self._opens = 0
        self._active_token: str | None = None
        self._resend_streak = 0
        self._resend_task: asyncio.Task[None] | None = None
        self.user: dict[str, Any] | None = None
        self.welcome: dict[str, Any] | None = None

    # --- the public surface ------------------------------------------------------------------

    @property
    def state(self) -> State:
        """idle, connecting, open, reconnecting or closed."""
        return self._state

    @property
    def attempt(self) -> int:
        """Reconnect attempts since the last welcome."""
        return self._attempt

    @property
    def pending(self) -> list[Frame]:
        """Copies of the message frames not yet echoed by the server, oldest first."""
        return self._outbox.pending

    @property
    def queued(self) -> int:
        """Frames waiting for a socket (unconfirmed messages count while offline)."""
        return self._outbox.size(self._is_live())

    def connect(self) -> Client:
        """Start connecting (from idle or closed; a no-op otherwise). Needs a running loop."""
        if self._state not in (State.IDLE, State.CLOSED):
            return self
        self._attempt = self._auth_streak = self._refusals = 0
        self._final = None
        self._close_request = (1000, "")
        self._buffer.reopen()
        self._set_state(State.CONNECTING)
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def wait_open(self) -> dict[str, Any] | None:
        """Wait until the welcome arrived; the welcome (None on routes without one).

        FatalCloseError when the client closes for good first (forbidden, no such room,
        credentials refused, retries exhausted). Bound it with `asyncio.timeout`.
        """
        opens = self._opens
        while True:
            changed = self._changed
            # Opened since the call, even if already dropped again: the caller asked
            # whether the client got through, not whether it is open this instant.
            if self._state is State.OPEN or self._opens != opens:
                return self.welcome
            if self._state is State.CLOSED:
                raise self._final or ClientClosedError()
            if self._state is State.IDLE:
                raise ClientClosedError("connect() was not called")
            await changed.wait()

    async def wait_closed(self) -> None:
        """Wait until the client is closed (by close(), a fatal close or giving up)."""
        while self._state is not State.CLOSED:
            await self._changed.wait()

    def retry_now(self) -> None:
        """Skip the backoff wait: reconnect now (from idle or closed this is connect())."""
        if self._state in (State.IDLE, State.CLOSED):
            self.connect()
        else:
            self._retry_now.set()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close for good: no reconnect. Queued and pending frames are kept for a connect()."""
        if self._state in (State.CLOSED, State.IDLE):
            self._buffer.close()
            return
        self._close_request = (code, reason)
        task = self._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._finish({"code": code, "reason": reason, "by_client": True})

    async def __aenter__(self) -> Client:
        self.connect()
        try:
            async with asyncio.timeout(self.options.connect_timeout * 3):
                await self.wait_open()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def send(self, frame: Mapping[str, Any]) -> Frame:
        """Send a frame (a dict, as JSON); queued while not open, sent in order after the welcome.

        A `message` frame gets a `client_id` here (kept if given) and stays pending
        until the server echoes it, being sent again after every reconnect. Returns
        the frame as sent. QueueFullError over max_queue, ValueError for a message
        the server would refuse, ClientClosedError after close().
        """
        if self._state is State.CLOSED:
            raise ClientClosedError()
        live = self._is_live()
        out = self._outbox.add(frame, live=live)
        if live:
            self._transmit(out)
        return out

    def send_message(
        self, body: str, *, client_id: str | None = None, **extra: Any
    ) -> Sent:
        """Send a chat message; `await` the result for the stored message."""
        frame: dict[str, Any] = {**extra, "type": "message", "body": body}
        if client_id is not None:
            frame["client_id"] = client_id
        out = self.send(frame)
        return Sent(out, self._ack_future(out["client_id"]))

    def discard(self, client_id: str) -> bool:
        """Give up on a pending message (say, after an error frame): no more resends."""
        if not self._outbox.discard(client_id):
            return False
        future = self._acks.pop(client_id, None)
        if future is not None and not future.done():
            future.set_exception(RealtimeError("discarded", code="discarded"))
            future.exception()  # retrieved: nobody has to await a discarded send
        return True

    # --- hooks for a subclass ---------------------------------------------------------------------

    def _query(self) -> dict[str, str]:
        """Query parameters of the next handshake (resume)."""
        return {}

    def _on_welcome(self, welcome: dict[str, Any]) -> None:
        """The welcome arrived; called after the `welcome` event, before the queue flushes."""

    def _on_message_frame(self, frame: dict[str, Any]) -> None:
        """A live `message` frame."""
        self._confirm(frame)
        self._emit("message", frame, source="live")

    def _on_updated_frame(self, frame: dict[str, Any]) -> None:
        """A `message_updated` frame: an edit, delete or reaction (chat overrides)."""
        self._emit("message_updated", frame.get("message") or {}, source="live")

    def _on_stop(self) -> None:
        """The client closed: cancel whatever the subclass scheduled."""

    # --- the run loop: one connection after another ---------------------------------------------

    async def _run(self) -> None:
        try:
            while True:
                drop = await self._session()
                await self._after_drop(drop)
        except _Stop:
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must end the client visibly, not hang it
            log.exception("realtime client failed")
            with contextlib.suppress(_Stop):
                self._fatal(None, str(exc), "client_error", "the client failed")

    async def _session(self) -> _Drop:
        """Dial, wait for the welcome, read until the socket closes; how it ended."""
        token = await self._token_for_connect()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._active_token = token
        query = self._query()
        url = self.url + ("?" + urlencode(query) if query else "")
        try:
            async with asyncio.timeout(self.options.connect_timeout):
                ws = await self._connector(
                    url,
                    additional_headers=headers,
                    open_timeout=None,
                    ping_interval=None,  # the protocol's heartbeat frames instead
                    close_timeout=5,
                    compression=None,
                    max_size=MAX_FRAME_BYTES,
                )
        except InvalidStatus as exc:
            status = exc.response.status_code
            return _Drop(handshake_policy(status), status=status, reason=str(exc))
        except InvalidURI as exc:
            return _Drop(
                ClosePolicy(Action.FATAL, "not a socket URL", "client_bug"),
                reason=str(exc),
            )
        except (OSError, TimeoutError, WebSocketException) as exc:
            return _Drop(DEFAULT_CLOSE_POLICY, reason=f"{type(exc).__name__}: {exc}")
        self._ws = ws
        dead = False
        try:
            if self._expect_welcome:
                async with asyncio.timeout(self.options.connect_timeout):
                    while not self._on_text(await ws.recv(), handshake=True):
                        pass
            else:
                self._ready(ws, None)
            dead = await self._read(ws)
        except TimeoutError:
            dead = True  # no welcome within connect_timeout
        except ConnectionClosed:
            pass
        except asyncio.CancelledError:
            # close(): send the close the user asked for, bounded by close_timeout.
            self._teardown()
            code, reason = self._close_request
            with contextlib.suppress(Exception):
                await asyncio.shield(ws.close(code, reason))
            raise
        finally:
            self._teardown()
        if dead:
            with contextlib.suppress(Exception):
                await ws.close(4408, "heartbeat timeout")
            return _Drop(close_policy(4408), code=4408, reason="link dead")
        code = ws.close_code
        return _Drop(close_policy(code), code=code, reason=ws.close_reason or "")

    async def _read(self, ws: Any) -> bool:
        """Read frames until the socket closes (False) or goes silent too long (True)."""
        while True:
            silence = self._dead_after()
            try:
                async with asyncio.timeout(silence):
                    raw = await ws.recv()
            except TimeoutError:
                return True
            self._on_text(raw)

    def _dead_after(self) -> float | None:
        if not self.options.heartbeat:
            return None
        return self._heartbeat_interval() * self.options.heartbeat_timeout_factor

    def _heartbeat_interval(self) -> float:
        seconds = (self.welcome or {}).get("heartbeat_interval")
        if isinstance(seconds, int | float) and seconds > 0:
            return float(seconds)
        return self.options.heartbeat_interval

    async def _after_drop(self, drop: _Drop) -> None:
        """Carry out the close-code policy; returns to reconnect, raises _Stop to end."""
        policy = drop.policy
        detail = {"code": drop.code, "reason": drop.reason, "status": drop.status}
        if policy.action is not Action.REFRESH:
            self._auth_streak = 0
        if drop.status in (401, 403):
            await self._handshake_refused(drop)
            return
        self._refusals = 0
        if policy.action is Action.STOP:
            self._finish(detail)
            raise _Stop
        if policy.action is Action.FATAL:
            self._fatal(drop.code, drop.reason, policy.kind or "fatal", policy.meaning)
        if policy.action is Action.REFRESH:
            await self._reauthenticate(drop)
            return
        await self._wait_retry(policy.action, drop)

    async def _reauthenticate(self, drop: _Drop) -> None:
        """4401: refresh, then reconnect at once; a few in a row on short sockets ends it."""
        now = time.monotonic()
        if self._opened_at is not None and now - self._opened_at >= AUTH_STREAK_RESET:
            self._auth_streak = 0
        self._auth_streak += 1
        if self.auth is None or not self.auth.can_refresh:
            self._auth_required(drop.code, None)
        if self._auth_streak > MAX_AUTH_STREAK:
            self._auth_required(drop.code, None)
        self._set_state(State.RECONNECTING, code=drop.code, reason=drop.reason)
        if await self._try_refresh(drop.code):
            await self._wait_retry(Action.NOW, drop)
        else:
            await self._wait_retry(Action.BACKOFF, drop)

    async def _handshake_refused(self, drop: _Drop) -> None:
        """HTTP 401/403 before accept: credentials, Origin, drain or cap; see handshake_policy."""
        self._refusals += 1
        expired = self._token_expired()
        if self.auth is None or not self.auth.can_refresh:
            if expired:
                self._auth_required(drop.status, None)
        elif expired or should_check_credentials(self._refusals):
            if await self._try_refresh(drop.status) and expired:
                await self._wait_retry(Action.NOW, drop)
                return
        await self._wait_retry(Action.BACKOFF, drop)

    async def _try_refresh(self, code: int | None) -> bool:
        """Refresh the token: True on success, False on a transient failure; _Stop when refused."""
        assert self.auth is not None
        try:
            token = await self.auth.refresh()
        except AuthError as exc:
            self._auth_required(code, exc)
        except (HttpError, OSError, RealtimeError) as exc:
            self._emit("token_refresh_failed", {"error": str(exc)})
            return False
        self._emit("token_refreshed", {"exp": jwt_exp(token)})
        return True

    async def _wait_retry(self, action: Action, drop: _Drop) -> None:
        """Wait the policy's delay before the next attempt (retry_now() cuts it short)."""
        if self._attempt >= self.options.max_retries:
            self._fatal(
                drop.code,
                drop.reason,
                "max_retries",
                f"gave up after {self._attempt} retries",
            )
        delay = retry_delay(action, self._attempt, self.options, self._random)
        self._attempt += 1
        info = {
            "code": drop.code,
            "status": drop.status,
            "reason": drop.reason,
            "attempt": self._attempt,
            "delay": delay,
        }
        self._set_state(State.RECONNECTING, **info)
        self._emit("retry", info)
        self._retry_now.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._retry_now.wait()

    async def _token_for_connect(self) -> str | None:
        """The token for the next handshake, refreshed first when it has expired."""
        if self.auth is None:
            return self._token
        if self.auth.expired() and self.auth.can_refresh:
            # An expired token is refused with a bare 403: refresh rather than retry it.
            await self._try_refresh(None)
        return self.auth.access

    def _token_expired(self) -> bool:
        if self.auth is not None:
            return self.auth.expired()
        exp = jwt_exp(self._token)
        return exp is not None and exp <= time.time()

    # --- an open socket ---------------------------------------------------------------------

    def _on_text(self, raw: str | bytes, *, handshake: bool = False) -> bool:
        """Dispatch one frame; whether it was the welcome that ends the handshake."""
        try:
            frame = json.loads(raw)
        except ValueError:
            frame = None
        if not isinstance(frame, dict):
            self._emit("raw", {"data": raw})
            return False
        kind = frame.get("type")
        if handshake and kind == "welcome":
            self._ready(self._ws, frame)
            return True
        if kind == "message":
            self._on_message_frame(frame)
        elif kind == "message_updated":
            self._on_updated_frame(frame)
        elif not isinstance(kind, str) or kind in LIFECYCLE_EVENTS:
            self._emit("frame", frame)
        else:
            if kind == "error":
                self._on_error_frame(frame)
            self._emit(kind, frame)
        return False

    def _ready(self, ws: Any, welcome: dict[str, Any] | None) -> None:
        """The link is usable: after the welcome (chat, notify) or the open (echo)."""
        self._attempt = 0
        self._refusals = 0
        self._opens += 1
        self._opened_at = time.monotonic()
        self.welcome = welcome
        if welcome is not None and isinstance(welcome.get("user"), dict):
            self.user = welcome["user"]
        self._wire = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self._session_tasks = [loop.create_task(self._write(ws, self._wire))]
        if self.options.heartbeat:
            self._session_tasks.append(loop.create_task(self._heartbeat()))
        if self.auth is not None and self.options.refresh_on_socket:
            self._session_tasks.append(loop.create_task(self._refresh_on_socket(ws)))
        if welcome is not None:
            self._emit("welcome", welcome)
            self._on_welcome(welcome)
        # Flush before announcing open, so frames sent from a `state` handler follow the
        # queued ones instead of overtaking them.
        for frame in self._outbox.flush():
            self._transmit(frame)
        self._set_state(State.OPEN)

    async def _write(self, ws: Any, wire: asyncio.Queue[str]) -> None:
        """The one writer of a socket: frames go out in order, paced (SendPacer)."""
        pacer = SendPacer(self.options.send_rate, self.options.send_burst)
        loop = asyncio.get_running_loop()
        while True:
            text = await wire.get()
            wait = pacer.reserve(loop.time())
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                await ws.send(text)
            except ConnectionClosed:
                return  # the reader sees the close; pending messages go again

    async def _heartbeat(self) -> None:
        interval = self._heartbeat_interval()
        while True:
            await asyncio.sleep(interval)
            self._transmit({"type": "heartbeat"})

    async def _refresh_on_socket(self, ws: Any) -> None:
        """Send a fresh token in-band (`{"type":"auth"}`) before the current one expires."""
        assert self.auth is not None
        failures = 0
        while self.auth.can_refresh:
            exp = jwt_exp(self._active_token)
            if exp is None:
                return
            now = time.time()
            if failures:
                if exp <= now:
                    return  # the server closes 4401 now, and that path refreshes
                delay = min(
                    backoff_delay(failures, self.options, self._random), exp - now
                )
            else:
                delay = refresh_delay(exp, now, self.options.refresh_skew)
            await asyncio.sleep(delay)
            try:
                token = await self._fresher_token(exp)
            except AuthError as exc:
                # Taken back: the socket closes with 4401 at expiry, or sooner.
                self._emit("token_refresh_failed", {"error": str(exc), "final": True})
                return
            except (HttpError, OSError, RealtimeError) as exc:
                failures += 1
                self._emit("token_refresh_failed", {"error": str(exc), "final": False})
                continue
            failures = 0
            if ws is not self._ws:
                return  # the next dial uses it
            self._active_token = token
            self._transmit({"type": "auth", "token": token})
            self._emit("token_refreshed", {"exp": jwt_exp(token)})

    async def _fresher_token(self, exp: float) -> str:
        """A token that outlives `exp`: one that another client sharing this Auth (chat
        and notify of one user) already got, else a refresh (which rotates)."""
        assert self.auth is not None
        held = self.auth.access
        if held != self._active_token and (jwt_exp(held) or 0.0) > exp:
            return held
        return await self.auth.refresh()

    def _on_error_frame(self, frame: dict[str, Any]) -> None:
        """`rate_limited`/`unavailable`: the messages in flight were not stored; send again.

        The error frame names no client_id, so every unconfirmed message goes again
        after a backoff (the server dedupes them); one resend timer at a time.
        """
        if frame.get("code") not in ("rate_limited", "unavailable"):
            return
        if self._resend_task is not None or not self._outbox.resend():
            return
        delay = self.options.resend_delay + backoff_delay(
            self._resend_streak, self.options, self._random
        )
        self._resend_streak += 1
        self._resend_task = asyncio.get_running_loop().create_task(
            self._resend_after(delay, self._ws)
        )

    async def _resend_after(self, delay: float, ws: Any) -> None:
        try:
            await asyncio.sleep(delay)
            if ws is self._ws and self._is_live():
                for frame in self._outbox.resend():
                    self._transmit(frame)
        finally:
            self._resend_task = None

    def _teardown(self) -> None:
        """The socket is gone: stop its tasks; what it had not sent stays pending."""
        for task in self._session_tasks:
            task.cancel()
        self._session_tasks = []
        if self._resend_task is not None:
            self._resend_task.cancel()
        self._wire = None
        self._ws = None

    def _is_live(self) -> bool:
        return self._state is State.OPEN and self._wire is not None

    def _transmit(self, frame: Mapping[str, Any]) -> None:
        if self._wire is not None:
            self._wire.put_nowait(json.dumps(frame, ensure_ascii=False))

    def _confirm(self, message: Mapping[str, Any]) -> None:
        """An echo of one of our pending messages: it is stored, stop resending it."""
        user_id = self.user.get("id") if self.user else None
        if not self._outbox.confirm(message, user_id):
            return
        client_id = message["client_id"]
        self._resend_streak = 0
        future = self._acks.pop(client_id, None)
        if future is not None and not future.done():
            future.set_result(dict(message))
        self._emit("ack", {"client_id": client_id, "message": message})

    def _ack_future(self, client_id: str) -> asyncio.Future[dict[str, Any]]:
        future = self._acks.get(client_id)
        if future is None or future.done():
            future = asyncio.get_running_loop().create_future()
            if self._outbox.is_pending(client_id):
                self._acks[client_id] = future
        return future

    # --- ending ---------------------------------------------------------------------------------

    def _fatal(
        self, code: int | None, reason: str, kind: str, meaning: str
    ) -> NoReturn:
        self._emit(
            "fatal", {"code": code, "reason": reason, "kind": kind, "meaning": meaning}
        )
        self._final = FatalCloseError(meaning, code=kind, close_code=code)
        self._finish({"code": code, "reason": reason})
        raise _Stop

    def _auth_required(self, code: int | None, error: Exception | None) -> NoReturn:
        self._emit(
            "auth_required", {"code": code, "error": str(error) if error else None}
        )
        self._final = FatalCloseError(
            "the credentials were refused: sign in again",
            code="auth_required",
            close_code=code,
        )
        self._finish({"code": code, "reason": "auth_required"})
        raise _Stop

    def _finish(self, detail: dict[str, Any]) -> None:
        """Closed without reconnecting; connect() may start again."""
        if self._state is State.CLOSED:
            return
        self._teardown()
        self._on_stop()
        for future in self._acks.values():
            if not future.done():
                future.set_exception(ClientClosedError())
                future.exception()  # retrieved: not every caller awaits its send
        self._acks.clear()
        self._set_state(State.CLOSED, **detail)
        self._buffer.close()

    # --- events ---------------------------------------------------------------------------------

    def _set_state(self, state: State, **detail: Any) -> None:
        previous = self._state
        if previous is state:
            return
        self._state = state
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        self._emit(
            "state", {**detail, "state": state.value, "previous": previous.value}
        )
