"""The exception tree of the socket layer: a frame error keeps the socket, a refusal closes it."""

from __future__ import annotations

from typing import Any

from realtime.socket.closecodes import CloseCode


class SocketError(Exception):
    """Base of every error the socket layer raises on purpose."""


class FrameError(SocketError):
    """A bad inbound frame: answered with an error frame, the socket stays open."""

    code = "invalid"

    def __init__(
        self, detail: str, *, errors: Any = None, client_id: str | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        #: the refused frame's own `client_id`, echoed so a client knows which send failed
        self.client_id = client_id


class BadJson(FrameError):
    """The frame is not a JSON object."""

    code = "bad_json"


class UnknownType(FrameError):
    """The frame's `type` is not one this route accepts."""

    code = "unknown_type"


class Invalid(FrameError):
    """The frame's fields fail the schema."""

    code = "invalid"


class TooLarge(FrameError):
    """A field (the message body) is over its limit."""

    code = "too_large"


class RateLimited(FrameError):
    """The socket's token bucket is empty."""

    code = "rate_limited"


class Declined(FrameError):
    """A well-formed frame the app would not carry out (not allowed, no such target, a
    state that forbids it): answered like any frame error, but not counted towards
    WS_MAX_INVALID_FRAMES, since an honest client meets these in races."""

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        errors: Any = None,
        client_id: str | None = None,
    ) -> None:
        super().__init__(detail, errors=errors, client_id=client_id)
        self.code = code


class Refused(SocketError):
    """Close the socket with `close_code` (after accept, so a browser can tell why)."""

    def __init__(self, close_code: CloseCode, reason: str = "") -> None:
        super().__init__(f"{int(close_code)} {reason}".strip())
        self.close_code = close_code
        self.reason = reason
