"""What the client decides, as pure functions and tables.

The close-code policy of the protocol (docs/protocol.md, "Close codes"), the reconnect
schedule (exponential backoff with full jitter) and when to refresh a token. No asyncio,
no network: every input (attempt, clock reading, randomness) is an argument, so the
rules are tested without a socket and the connection only carries them out. The same
table as the browser client's static/js/realtime/policy.js. Durations are in seconds.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

Random = Callable[[], float]


class Action(StrEnum):
    """What the client does after a close."""

    STOP = "stop"  # closed, no reconnect, nothing to report
    FATAL = "fatal"  # closed, no reconnect, a `fatal` event with its `kind`
    REFRESH = "refresh"  # refresh the token, then reconnect at once
    RESTART = "restart"  # reconnect at once after a small jitter
    BACKOFF = "backoff"  # reconnect after exponential backoff, resuming with since
    LONG_BACKOFF = "long_backoff"  # reconnect after rate_limit_delay plus the backoff
    NOW = "now"  # reconnect with no wait (after a successful refresh)


@dataclass(frozen=True, slots=True)
class ClosePolicy:
    """One row of the close-code table."""

    action: Action
    meaning: str
    #: for FATAL: `client_bug`, `forbidden` or `not_found`
    kind: str | None = None


CLOSE_POLICY: Mapping[int, ClosePolicy] = MappingProxyType(
    {
        1000: ClosePolicy(Action.STOP, "normal closure"),
        1003: ClosePolicy(Action.FATAL, "binary frame on chat or notify", "client_bug"),
        1009: ClosePolicy(Action.FATAL, "frame over WS_MAX_FRAME_BYTES", "client_bug"),
        1011: ClosePolicy(Action.BACKOFF, "server error"),
        1012: ClosePolicy(Action.RESTART, "server restarting or draining"),
        1013: ClosePolicy(Action.BACKOFF, "server overloaded"),
        4400: ClosePolicy(Action.FATAL, "too many invalid frames", "client_bug"),
        4401: ClosePolicy(Action.REFRESH, "credentials expired"),
        4403: ClosePolicy(Action.FATAL, "forbidden here", "forbidden"),
        4404: ClosePolicy(Action.FATAL, "no such room", "not_found"),
        4408: ClosePolicy(Action.BACKOFF, "heartbeat timeout"),
        4429: ClosePolicy(Action.LONG_BACKOFF, "rate or connection limit abused"),
        4503: ClosePolicy(Action.BACKOFF, "outbound backlog passed its bound"),
    }
)

#: every code the table does not name (1001, 1006, a refused TCP connect...): a dropped link
DEFAULT_CLOSE_POLICY = ClosePolicy(Action.BACKOFF, "connection lost")


def close_policy(code: int | None) -> ClosePolicy:
    """The CLOSE_POLICY row for a close code; None (no close frame) is a dropped link."""
    if code is None:
        return DEFAULT_CLOSE_POLICY
    return CLOSE_POLICY.get(code, DEFAULT_CLOSE_POLICY)


def handshake_policy(status: int) -> ClosePolicy:
    """What an HTTP refusal of the handshake (before accept) means to a client.

    401/403 is bad or expired credentials, a foreign Origin, a draining process or one at
    its socket cap: the client cannot tell which, so it backs off like after a dropped
    link (a browser sees the same refusal as a bare 1006), refreshes first when its
    token has expired, and checks its credentials every CREDENTIAL_CHECK_EVERY refusals
    in a row (a refresh answered 401 ends the session). 404 is a path no route serves:
    retrying cannot help. 429 is a handshake rate limit; the rest (5xx, a proxy's
    answer) is a server in trouble.
    """
    if status in (401, 403):
        return ClosePolicy(Action.BACKOFF, f"handshake refused with HTTP {status}")
    if status == 404:
        return ClosePolicy(Action.FATAL, "no socket route at this path", "client_bug")
    if status == 429:
        return ClosePolicy(Action.LONG_BACKOFF, "handshake rate limited (HTTP 429)")
    return ClosePolicy(Action.BACKOFF, f"handshake refused with HTTP {status}")


#: handshake refusals (401/403) in a row after which the client refreshes its token,
#: to learn whether its credentials were taken back
CREDENTIAL_CHECK_EVERY = 3


def should_check_credentials(refusals: int) -> bool:
    """Whether the `refusals`-th 401/403 handshake in a row calls for a token refresh."""
    return refusals > 0 and refusals % CREDENTIAL_CHECK_EVERY == 0


Jitter = Literal["full", "none"]


@dataclass(frozen=True, slots=True)
class Options:
    """The connection's tunables, with their defaults (the README lists them)."""

    base_delay: float = 1.0
    max_delay: float = 30.0
    jitter: Jitter = "full"
    #: reconnect attempts after a drop before giving up (`fatal`, kind `max_retries`)
    max_retries: float = float("inf")
    #: 1012: reconnect after random() * restart_jitter
    restart_jitter: float = 1.0
    #: 4429: reconnect after rate_limit_delay plus the backoff
    rate_limit_delay: float = 60.0
    heartbeat: bool = True
    #: used when the welcome names no heartbeat_interval
    heartbeat_interval: float = 20.0
    #: no frame at all for factor x interval: the link is dead, reconnect
    heartbeat_timeout_factor: float = 2.0
    #: no welcome within this: abandon the handshake, reconnect
    connect_timeout: float = 20.0
    #: refresh the access token this long before its `exp` (or at half its life)
    refresh_skew: float = 30.0
    #: frames that may wait for a socket, and messages that may wait for their echo
    max_queue: int = 100
    #: send an in-band `auth` frame before the token expires (else: 4401, refresh, reconnect)
    refresh_on_socket: bool = True
    #: frames per second the client sends at most (None: no pacing); a little under the
    #: server's WS_MESSAGE_RATE default of 10, whose bucket closes a flood with 4429
    send_rate: float | None = 9.0
    #: frames the client may send at once (the server's WS_MESSAGE_BURST default is 30)
    send_burst: int = 25
    #: after a `rate_limited` or `unavailable` error frame, wait at least this long (plus
    #: the backoff) before sending the unconfirmed messages again: the server's bucket
    #: refills meanwhile, and the echoes of the accepted ones arrive first
    resend_delay: float = 1.0
    #: hold a message past a seq gap this long before backfilling over REST
    gap_grace: float = 0.3
    #: REST page size for backfill (the API's maximum)
    backfill_limit: int = 200

    def __post_init__(self) -> None:
        if self.jitter not in ("full", "none"):
            raise ValueError(f"jitter must be 'full' or 'none', not {self.jitter!r}")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_queue < 1:
            raise ValueError("delays must be >= 0 and max_queue >= 1")
        if self.send_rate is not None and (self.send_rate <= 0 or self.send_burst < 1):
            raise ValueError("send_rate must be > 0 and send_burst >= 1")


def backoff_ceiling(attempt: int, options: Options) -> float:
    """min(max_delay, base_delay * 2^attempt): the top of attempt `attempt`'s window."""
    exponent = min(max(0, attempt), 62)  # 2**attempt must not overflow a float
    return min(options.max_delay, options.base_delay * 2.0**exponent)


def backoff_delay(
    attempt: int, options: Options, random: Random = _random.random
) -> float:
    """Seconds before reconnect attempt `attempt` (0-based).

    Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): uniform in
    [0, ceiling), so a thousand clients a restart dropped do not return in one wave;
    `jitter="none"` returns the ceiling itself.
    """
    ceiling = backoff_ceiling(attempt, options)
    return ceiling if options.jitter == "none" else random() * ceiling


def retry_delay(
    action: Action, attempt: int, options: Options, random: Random = _random.random
) -> float:
    """Seconds before reconnecting after a close whose policy is `action`."""
    if action is Action.NOW:
        return 0.0
    if action is Action.RESTART:
        # Spread a drained node's clients over a second; if that reconnect fails too,
        # the node pool is in trouble and the normal backoff applies.
        if attempt == 0:
            return random() * options.restart_jitter
        return backoff_delay(attempt, options, random)
    if action is Action.LONG_BACKOFF:
        return options.rate_limit_delay + backoff_delay(attempt, options, random)
    return backoff_delay(attempt, options, random)


def refresh_delay(exp: float, now: float, skew: float) -> float:
    """Seconds before refreshing a token that expires at `exp`, seen at `now` (epoch s).

    `skew` before the expiry, or at half the remaining life when that is later, so a
    server issuing short tokens cannot put the client in a tight refresh loop.
    """
    remaining = exp - now
    return max(0.0, remaining - skew, remaining / 2)


class SendPacer:
    """The client's own token bucket, a little inside the server's (WS_MESSAGE_RATE/BURST).

    The server answers a frame over its bucket with a `rate_limited` error (the frame is
    dropped) and closes a sustained flood with 4429; a client that flushes a long queue
    after a reconnect would hit both. Pacing on this side keeps every frame accepted.
    """

    def __init__(self, rate: float | None, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._last: float | None = None

    def reserve(self, now: float) -> float:
        """Take a token for one frame sent at `now`; seconds to wait before sending it."""
        if self.rate is None:
            return 0.0
        if self._last is not None:
            elapsed = max(0.0, now - self._last)
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


#: 4401s in a row on short-lived sockets before the client stops refreshing
MAX_AUTH_STREAK = 3
#: a socket that stayed open this long (seconds) ends a 4401 streak
AUTH_STREAK_RESET = 60.0
