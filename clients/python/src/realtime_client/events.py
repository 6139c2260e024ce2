"""The client's events: what they are, and the two ways they reach the application.

Callbacks (`on(type, fn)`) run in subscription order, a broken one logged and the rest
still called; one async iterator (`async for event in client`) buffers from the
client's construction on, so nothing between connect and the first `async for` is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Generator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from realtime_client.outbox import Frame

log = logging.getLogger("realtime_client")


class State(StrEnum):
    """The client's states, in the order a healthy session passes through them."""

    IDLE = "idle"
    CONNECTING = "connecting"
    OPEN = "open"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened: a server frame (by its `type`) or a lifecycle event.

    `data` is the frame itself for server frames; `source` says where a `message`
    came from: `live`, `history` (the welcome) or `backfill` (REST).
    """

    type: str
    data: Mapping[str, Any] = field(default_factory=dict)
    source: str | None = None


#: events the client raises itself; a server frame of one of these types arrives as
#: `frame`, so the server cannot fake them
LIFECYCLE_EVENTS = frozenset(
    {
        "state",
        "retry",
        "fatal",
        "auth_required",
        "ack",
        "gap",
        "backfill",
        "token_refreshed",
        "token_refresh_failed",
        "frame",
        "raw",
    }
)

Handler = Callable[[Event], Any]


class Sent:
    """A message handed to send_message(): its client_id, and its echo when it comes.

    `await sent` returns the stored message (with its `seq`) once the server echoed it,
    after however many reconnects that takes.
    """

    def __init__(self, frame: Frame, ack: asyncio.Future[dict[str, Any]]) -> None:
        self.frame = frame
        self.client_id: str = frame["client_id"]
        self.ack = ack

    def __await__(self) -> Generator[Any, None, dict[str, Any]]:
        return asyncio.shield(self.ack).__await__()

    def __repr__(self) -> str:
        return f"<Sent {self.client_id} {'acked' if self.ack.done() else 'pending'}>"


class EventBuffer:
    """The iterator's queue: bounded, oldest dropped first, ended by close()."""

    def __init__(self, maxlen: int) -> None:
        self._items: deque[Event] = deque()
        self._maxlen = maxlen
        self._wake = asyncio.Event()
        self._closed = False
        self.dropped = 0

    @property
    def off(self) -> bool:
        """Whether buffering is off (event_buffer=0: callbacks only)."""
        return self._maxlen == 0

    def put(self, event: Event) -> None:
        if self._maxlen == 0:
            return  # callbacks only
        if len(self._items) >= self._maxlen:
            self._items.popleft()
            self.dropped += 1
            if self.dropped == 1:
                log.warning("event buffer full: dropping the oldest (iterate faster)")
        self._items.append(event)
        self._wake.set()

    def close(self) -> None:
        self._closed = True
        self._wake.set()

    def reopen(self) -> None:
        self._closed = False

    async def get(self) -> Event | None:
        while not self._items:
            if self._closed:
                return None
            self._wake.clear()
            await self._wake.wait()
        return self._items.popleft()


class Emitter:
    """`on()` and the iterator for subscribers, `_emit()` for the client itself."""

    def __init__(self, event_buffer: int) -> None:
        self._handlers: dict[str, list[Handler]] = {}
        self._buffer = EventBuffer(event_buffer)
        self._handler_tasks: set[asyncio.Task[Any]] = set()

    @property
    def dropped_events(self) -> int:
        """Events the iterator's buffer dropped because nobody read them."""
        return self._buffer.dropped

    def on(self, event_type: str, handler: Handler) -> Callable[[], None]:
        """Call `handler(event)` for each event of this type ("*": every event).

        A coroutine function's result is run as a task. Returns an unsubscribe function.
        """
        self._handlers.setdefault(event_type, []).append(handler)

        def off() -> None:
            with contextlib.suppress(ValueError):
                self._handlers.get(event_type, []).remove(handler)

        return off

    async def events(self) -> AsyncIterator[Event]:
        """Every event, buffered from construction on, until the client is closed."""
        if self._buffer.off:
            raise RuntimeError("event_buffer=0: this client has callbacks only")
        while True:
            event = await self._buffer.get()
            if event is None:
                return
            yield event

    def __aiter__(self) -> AsyncIterator[Event]:
        return self.events()

    def _emit(
        self, event_type: str, data: Mapping[str, Any], *, source: str | None = None
    ) -> None:
        event = Event(event_type, data, source)
        for handler in [
            *self._handlers.get(event_type, ()),
            *self._handlers.get("*", ()),
        ]:
            try:
                result = handler(event)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    self._handler_tasks.add(task)
                    task.add_done_callback(self._handler_done)
            except Exception:
                # One broken handler must not starve the others (or the client) of events.
                log.exception("event handler failed for %r", event_type)
        self._buffer.put(event)

    def _handler_done(self, task: asyncio.Task[Any]) -> None:
        self._handler_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("event handler failed", exc_info=task.exception())
