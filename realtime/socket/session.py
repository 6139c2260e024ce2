"""The sans-I/O socket session: one socket's rules, with data and time in, actions out.

No asyncio and no Django here, in the manner of python-websockets' `protocol.py`: the
ASGI shell (realtime/socket/consumer.py) hands the session what arrived and the time, and
carries out what it answers. Every limit, deadline and close code is therefore a unit
test that runs in a millisecond (realtime/socket/tests/test_session.py).

The session owns:
- the dispatch table: a client's `type` is only ever a key of it, never a method name;
- the frame size and body limits, and the error frames for bad input;
- the token bucket, and how many invalid and rate-limited frames end the socket;
- the deadlines: silence (2.5 heartbeat intervals: 4408) and token expiry (4401);
- the outbound backlog, counted in frames and in bytes (4503 past either bound).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from realtime.socket.closecodes import CloseCode
from realtime.socket.errors import Declined, FrameError, RateLimited, TooLarge
from realtime.socket.frames import error_frame, heartbeat_frame, parse_frame
from realtime.socket.ratelimit import TokenBucket

#: silence longer than this many heartbeat intervals closes the socket (4408)
IDLE_INTERVALS = 2.5


@dataclass(frozen=True, slots=True)
class Limits:
    """The numbers a session enforces (PROTOCOL.md sections 1 and 8)."""

    max_frame_bytes: int = 65536
    max_body_chars: int | None = 4000
    message_rate: float = 10.0
    message_burst: float = 30.0
    max_invalid_frames: int = 20
    rate_abuse_limit: int = 20
    heartbeat_interval: float = 25.0
    max_backlog_frames: int = 1000
    max_backlog_bytes: int = 1048576

    @classmethod
    def from_settings(cls, get: Callable[[str], Any]) -> Limits:
        """The limits of the settings `get(name)` returns (read once per socket)."""
        return cls(
            max_frame_bytes=int(get("WS_MAX_FRAME_BYTES")),
            max_body_chars=int(get("WS_MAX_BODY_CHARS")),
            message_rate=float(get("WS_MESSAGE_RATE")),
            message_burst=float(get("WS_MESSAGE_BURST")),
            max_invalid_frames=int(get("WS_MAX_INVALID_FRAMES")),
            rate_abuse_limit=int(get("WS_RATE_ABUSE_LIMIT")),
            heartbeat_interval=float(get("WS_HEARTBEAT_INTERVAL")),
            max_backlog_frames=int(get("WS_MAX_OUTBOUND_BACKLOG")),
            max_backlog_bytes=int(get("WS_MAX_OUTBOUND_BYTES")),
        )


# --- actions: what the shell must do -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Handle:
    """Call the route's handler for this validated frame."""

    kind: str
    frame: BaseModel


@dataclass(frozen=True, slots=True)
class Reply:
    """Send this frame, which the session wrote itself (a heartbeat's answer)."""

    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class Error:
    """Send this error frame (`code` is its error code); the socket stays open."""

    code: str
    text: str


@dataclass(frozen=True, slots=True)
class Passthrough:
    """A raw frame for a route that is not JSON (echo)."""

    data: str | bytes


@dataclass(frozen=True, slots=True)
class Close:
    """Close the socket with `code`; `cause` labels the metric (`too_large`, ...)."""

    code: CloseCode
    cause: str = ""


Action = Handle | Reply | Error | Passthrough | Close


class Session:
    """The rules of one socket; see the module docstring."""

    __slots__ = (
        "limits",
        "schemas",
        "json_only",
        "closed",
        "_bucket",
        "_invalid",
        "_rate_abuse",
        "_last_frame",
        "_expires",
        "outbox",
        "outbox_bytes",
        "dropping",
    )

    def __init__(
        self,
        *,
        limits: Limits,
        schemas: Mapping[str, type[BaseModel]],
        now: float,
        json_only: bool = True,
    ) -> None:
        self.limits = limits
        self.schemas = schemas
        self.json_only = json_only
        self.closed = False
        self._bucket = TokenBucket(limits.message_rate, limits.message_burst, now=now)
        self._invalid = 0
        self._rate_abuse = 0
        self._last_frame = now
        self._expires: float | None = None
        # Frames waiting for a slow transport, with their sizes; () until one must wait
        # (an empty deque costs 600 bytes, on every one of 10,000 idle sockets). The
        # shell reads `outbox` on every frame it sends: empty means "send it now".
        self.outbox: deque[tuple[str | bytes, int]] | tuple[()] = ()
        self.outbox_bytes = 0
        self.dropping = False

    # --- inbound ---------------------------------------------------------------------------
    def receive_text(self, text: str, now: float) -> tuple[Action, ...]:
        """A text frame arrived at `now` (monotonic seconds)."""
        return self._receive(text, len(text.encode()), now)

    def receive_bytes(self, data: bytes, now: float) -> tuple[Action, ...]:
        """A binary frame arrived at `now`."""
        return self._receive(data, len(data), now)

    def _receive(self, item: str | bytes, size: int, now: float) -> tuple[Action, ...]:
        if self.closed:
            return ()
        self._last_frame = now
        if size > self.limits.max_frame_bytes:
            return (self._close(CloseCode.MESSAGE_TOO_BIG, "too_large"),)
        bucket = self._bucket
        if not bucket.take(now):
            return (self._rate_limited(),)
        if bucket.tokens >= bucket.burst - 1.0001:
            # The bucket was full: the client paused long enough, so earlier abuse is
            # forgiven and only a sustained flood reaches the abuse limit.
            self._rate_abuse = 0
        if not self.json_only:
            return (Passthrough(item),)
        if isinstance(item, bytes):
            return (self._close(CloseCode.UNSUPPORTED_DATA, "binary"),)
        try:
            frame = parse_frame(
                item, self.schemas, max_body_chars=self.limits.max_body_chars
            )
        except FrameError as exc:
            return self.refused(exc)
        kind: str = frame.type  # type: ignore[attr-defined]
        if kind == "heartbeat":
            return (Reply("heartbeat", heartbeat_frame()),)
        return (Handle(kind, frame),)

    def refused(self, exc: FrameError) -> tuple[Action, ...]:
        """A frame was refused (by parsing, or by its handler): its error frame, and the
        close once too many invalid frames came."""
        error = Error(
            exc.code, error_frame(exc.code, exc.detail, exc.errors, exc.client_id)
        )
        if isinstance(exc, TooLarge | RateLimited | Declined):
            return (error,)
        self._invalid += 1
        if self._invalid >= self.limits.max_invalid_frames:
            return (error, self._close(CloseCode.INVALID_FRAMES, "invalid_frames"))
        return (error,)

    def _rate_limited(self) -> Action:
        self._rate_abuse += 1
        if self._rate_abuse >= self.limits.rate_abuse_limit:
            return self._close(CloseCode.RATE_LIMITED, "rate_limited")
        return Error("rate_limited", error_frame("rate_limited", "slow down"))

    # --- deadlines -------------------------------------------------------------------------
    def expire_at(self, deadline: float | None) -> None:
        """The credentials end at `deadline` (monotonic); None: they never do (a session)."""
        self._expires = deadline

    def deadline(self) -> float | None:
        """When check() may next close the socket; None when nothing can expire."""
        interval = self.limits.heartbeat_interval
        idle = self._last_frame + interval * IDLE_INTERVALS if interval > 0 else None
        if idle is None or (self._expires is not None and self._expires < idle):
            return self._expires
        return idle

    def check(self, now: float) -> Close | None:
        """The close a deadline calls for at `now`: 4401 expired, 4408 silent; else None."""
        if self.closed:
            return None
        if self._expires is not None and now >= self._expires:
            return self._close(CloseCode.AUTH_EXPIRED, "expired")
        interval = self.limits.heartbeat_interval
        if interval > 0 and now >= self._last_frame + interval * IDLE_INTERVALS:
            return self._close(CloseCode.HEARTBEAT_TIMEOUT, "idle")
        return None

    # --- outbound -------------------------------------------------------------------------
    @property
    def backlog(self) -> int:
        """Frames waiting in the outbox."""
        return len(self.outbox)

    def push(self, item: str | bytes, size: int, *, buffered: int = 0) -> Close | None:
        """Queue a frame of `size` bytes behind others; `buffered` is what the transport
        still holds. Past either bound (frames, or bytes with the transport's) the
        backlog is dropped and the answer is the 4503 close; frames pushed after that
        are dropped too, until the socket is gone."""
        if self.dropping:
            return None
        limits = self.limits
        if (
            len(self.outbox) >= limits.max_backlog_frames
            or self.outbox_bytes + size + buffered > limits.max_backlog_bytes
        ):
            self.drop_backlog()
            self.dropping = True
            self.closed = True
            return Close(CloseCode.TOO_SLOW, "backlog")
        if not self.outbox:
            self.outbox = deque()
        self.outbox.append((item, size))  # type: ignore[union-attr]
        self.outbox_bytes += size
        return None

    def pop(self) -> str | bytes | None:
        """The oldest queued frame, or None when the outbox is empty."""
        if not self.outbox:
            return None
        item, size = self.outbox.popleft()  # type: ignore[union-attr]
        # Counted until the transport takes it (then the transport's count has it).
        self.outbox_bytes = max(0, self.outbox_bytes - size)
        return item

    def drop_backlog(self) -> int:
        """Forget every queued frame (the peer is gone or too slow); how many there were."""
        dropped = len(self.outbox)
        self.outbox = ()
        self.outbox_bytes = 0
        return dropped

    # --- the end ---------------------------------------------------------------------------
    def _close(self, code: CloseCode, cause: str) -> Close:
        self.closed = True
        return Close(code, cause)

    def close(self) -> None:
        """The socket is closing for a reason of the shell's own: accept no more input."""
        self.closed = True
