"""Group commit for socket sends: the messages that arrive while the database is busy
are stored together, in one transaction, by services.messages_create.

Every database call of a serving process runs on one thread (Channels'
database_sync_to_async), so a busy room server used to queue one transaction per
message behind it. Here the first send of a quiet moment goes at once, as a batch of
one; sends that arrive meanwhile wait for it and go next, as one batch. Nothing waits
on a timer, so a lone send is as fast as before and a flood pays a few queries per
batch instead of five per message.
"""

from __future__ import annotations

import asyncio
import weakref

from channels.db import database_sync_to_async

from chat import services
from chat.models import Message

#: The largest batch (one INSERT of this many rows; SQLite's bound parameters allow it).
MAX_BATCH = 200


class MessageWriter:
    """The batching queue of one event loop (see module doc)."""

    def __init__(self) -> None:
        self._waiting: list[tuple[services.Send, asyncio.Future]] = []
        self._task: asyncio.Task | None = None

    async def create(self, send: services.Send) -> tuple[Message, bool]:
        """services.message_create() for a socket: same answer, same exceptions."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._waiting.append((send, future))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        store = database_sync_to_async(services.messages_create)
        while self._waiting:
            batch = self._waiting[:MAX_BATCH]
            del self._waiting[:MAX_BATCH]
            try:
                outcomes: list = await store([send for send, _ in batch])
            except Exception as exc:  # the database is out: every send gets the error
                outcomes = [exc] * len(batch)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():  # its socket went away; the message is stored anyway
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)


_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MessageWriter] = (
    weakref.WeakKeyDictionary()
)


def writer() -> MessageWriter:
    """The running loop's writer (tests run many loops in one process)."""
    loop = asyncio.get_running_loop()
    found = _writers.get(loop)
    if found is None:
        found = _writers[loop] = MessageWriter()
    return found
