"""Every close code a socket can get, with what it means to a client (PROTOCOL.md section 5)."""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    """Close codes, one place. A client acts on them: see the comment on each."""

    NORMAL = 1000  # normal closure: nothing to do
    UNSUPPORTED_DATA = 1003  # a binary frame on a JSON route: fix the client
    # Refused before accept: the ASGI server answers the handshake with HTTP 403, so a
    # client never sees this code, only the 403 (PROTOCOL.md section 5).
    REFUSED = 1008
    MESSAGE_TOO_BIG = 1009  # a frame over WS_MAX_FRAME_BYTES: fix the client
    INTERNAL_ERROR = 1011  # server error: reconnect with backoff
    SERVICE_RESTART = 1012  # restarting or draining: reconnect at once, with jitter
    TRY_AGAIN_LATER = 1013  # overloaded: reconnect with backoff
    INVALID_FRAMES = 4400  # too many invalid frames: fix the client
    AUTH_EXPIRED = 4401  # credentials expired or revoked: refresh the token, reconnect
    FORBIDDEN = 4403  # not allowed here: do not retry
    NOT_FOUND = 4404  # no such room: do not retry
    HEARTBEAT_TIMEOUT = 4408  # no frame within 2.5 heartbeat intervals: reconnect
    RATE_LIMITED = (
        4429  # rate or connection limit abused: reconnect after a long backoff
    )
    TOO_SLOW = (
        4503  # outbound backlog passed its bound: reconnect with since=<last seq>
    )
