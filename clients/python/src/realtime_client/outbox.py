"""The idempotent send queue.

Frames wait here for a socket; a `message` frame gets a `client_id` and stays pending
until the server echoes it, being sent again after every reconnect: the server answers a
repeated `client_id` with the original message, never a second one. Pure: the
connection asks what to transmit and transmits it.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from realtime_client.errors import QueueFullError

#: the longest client_id the server takes
MAX_CLIENT_ID = 64

Frame = dict[str, Any]


def new_client_id() -> str:
    """A random client_id (a v4 UUID, 36 characters)."""
    return str(uuid.uuid4())


def is_message_frame(frame: Mapping[str, Any]) -> bool:
    """Whether a frame given to send() is a chat message (and so gets a client_id)."""
    return frame.get("type") == "message"


def check_message(frame: Mapping[str, Any], max_body_chars: int | None = None) -> None:
    """Raise ValueError for a message the server would refuse as `invalid`/`too_large`.

    An error frame names no client_id, so a refused message cannot be told apart from
    the others pending: better never to queue one.
    """
    body = frame.get("body")
    if not isinstance(body, str):
        raise ValueError("body must be a string")
    trimmed = body.strip()
    if not trimmed:
        raise ValueError("body is empty")
    if "\x00" in trimmed:
        raise ValueError("body contains a NUL character")
    if max_body_chars is not None and len(trimmed) > max_body_chars:
        raise ValueError(f"body is over {max_body_chars} characters")
    client_id = frame.get("client_id")
    if not isinstance(client_id, str) or not 1 <= len(client_id) <= MAX_CLIENT_ID:
        raise ValueError(
            f"client_id must be a string of 1 to {MAX_CLIENT_ID} characters"
        )
    if "\x00" in client_id:
        raise ValueError("client_id contains a NUL character")


@dataclass(slots=True)
class _Pending:
    frame: Frame
    #: still in the queue (never went out on any socket)
    queued: bool


class Outbox:
    """Frames waiting for a socket, and message frames waiting for their echo."""

    def __init__(
        self,
        max_queue: int,
        make_client_id: Callable[[], str] = new_client_id,
        max_body_chars: int | None = None,
    ) -> None:
        self._max = max_queue
        self._make_client_id = make_client_id
        self._max_body_chars = max_body_chars
        self._queue: deque[Frame] = deque()
        self._pending: OrderedDict[str, _Pending] = OrderedDict()

    @property
    def pending(self) -> list[Frame]:
        """Copies of the message frames not yet echoed, oldest first."""
        return [dict(p.frame) for p in self._pending.values()]

    def is_pending(self, client_id: str) -> bool:
        """Whether a message with this client_id waits for its echo."""
        return client_id in self._pending

    def size(self, live: bool) -> int:
        """Frames waiting for a socket; offline, unconfirmed messages a dead socket took count too."""
        return len(self._queue) if live else self._unsent()

    def add(self, frame: Mapping[str, Any], *, live: bool) -> Frame:
        """Take a frame from send(); the caller transmits it now when `live`.

        A message frame gets its client_id here (kept if given) and becomes pending.
        Raises ValueError for a message the server would refuse, QueueFullError when
        max_queue frames already wait.
        """
        out = dict(frame)
        message = is_message_frame(out)
        if message:
            if out.get("client_id") is None:
                out["client_id"] = self._make_client_id()
            check_message(out, self._max_body_chars)
            known = out["client_id"] in self._pending
            if not known and len(self._pending) >= self._max:
                raise QueueFullError(self._max)
        if not live and self._unsent() >= self._max:
            raise QueueFullError(self._max)
        if not live:
            self._queue.append(out)
        if message:
            self._pending[out["client_id"]] = _Pending(out, queued=not live)
        return dict(out)

    def confirm(self, message: Mapping[str, Any], user_id: int | None) -> bool:
        """The echo of a pending message ends its resends; whether it confirmed one.

        client_ids are public in room broadcasts: only the echo from our own user
        (when known) confirms.
        """
        client_id = message.get("client_id")
        if not isinstance(client_id, str) or client_id not in self._pending:
            return False
        user = message.get("user")
        if user_id is not None and isinstance(user, Mapping):
            if user.get("id") != user_id:
                return False
        del self._pending[client_id]
        return True

    def discard(self, client_id: str) -> bool:
        """Stop (re)sending a pending message; whether it was pending."""
        if self._pending.pop(client_id, None) is None:
            return False
        self._queue = deque(
            f
            for f in self._queue
            if not (is_message_frame(f) and f.get("client_id") == client_id)
        )
        return True

    def flush(self) -> list[Frame]:
        """After a (re)connect: the messages a dead socket may have lost, then the queue.

        Everything returned counts as sent from now on.
        """
        out = [dict(p.frame) for p in self._pending.values() if not p.queued]
        while self._queue:
            frame = self._queue.popleft()
            out.append(dict(frame))
            if is_message_frame(frame):
                pending = self._pending.get(frame["client_id"])
                if pending is not None:
                    pending.queued = False
        return out

    def resend(self) -> list[Frame]:
        """The pending messages that went out, to send again on the same socket.

        After a `rate_limited` or `unavailable` error frame: it names no client_id, so
        every unconfirmed message goes again (the server dedupes them).
        """
        return [dict(p.frame) for p in self._pending.values() if not p.queued]

    def _unsent(self) -> int:
        return len(self._queue) + sum(1 for p in self._pending.values() if not p.queued)
