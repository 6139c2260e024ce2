"""The errors the client raises, each with a machine-readable `code`."""

from __future__ import annotations

from typing import Any


class RealtimeError(Exception):
    """Base of every error this client raises."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class QueueFullError(RealtimeError):
    """send() while max_queue frames already wait (for a socket, or for their echo)."""

    code = "queue_full"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"send queue is full ({limit} frames waiting); try again once connected"
        )
        self.limit = limit


class ClientClosedError(RealtimeError):
    """send() on a client that is closed (by close(), a fatal close code, or giving up)."""

    code = "closed"

    def __init__(self, why: str = "the client is closed") -> None:
        super().__init__(why)


class HttpError(RealtimeError):
    """A REST call answered with an error status; `body` is the decoded answer."""

    def __init__(self, status: int, body: Any, what: str) -> None:
        detail = body.get("detail") if isinstance(body, dict) else None
        code = body.get("code") if isinstance(body, dict) else None
        super().__init__(
            f"{what}: HTTP {status}" + (f" ({detail})" if detail else ""),
            code=code if isinstance(code, str) else f"http_{status}",
        )
        self.status = status
        self.body = body


class AuthError(HttpError):
    """The server refused the credentials (login or refresh): sign in again."""

    code = "auth_failed"


class FatalCloseError(RealtimeError):
    """wait_open() on a client that stopped for good (fatal close, auth or retries)."""

    def __init__(self, why: str, *, code: str, close_code: int | None) -> None:
        super().__init__(why, code=code)
        self.close_code = close_code
