"""The handshake's one trip to the database, shared by every handshake waiting for it.

A socket's handshake needs the database for its user (a token's claims name them), for
the route's own check (chat: may this user enter this room), for its registry row (the
per-user cap), and for its welcome (history, who is online). Each was its own trip on
the one database thread, with a commit of its own; under a reconnect storm the trips
queued and handshakes/s was bound by them. Here the first handshake of a quiet moment
goes at once, as a batch of one, and every handshake that arrives meanwhile waits for it
and goes next, in one batch: one transaction, one query for all the users, one GROUP BY
for all the caps, one executemany for all the rows, and each route's reads made once
for all its sockets of the batch (`before_admit`, `before_prepare`: a storm's batch
spans many rooms, each socket with its own `since`). Closes are batched the same way.
Nothing waits on a timer.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any, Protocol

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import DatabaseError, transaction

from realtime.registry import services
from realtime.registry.process import PROCESS_ID
from realtime.socket.auth import BadCredentials, Credentials, users_for_credentials
from realtime.socket.closecodes import CloseCode
from realtime.socket.errors import Refused

log = logging.getLogger("realtime.door")

#: the most handshakes (or closes) in one batch. chat's rooms_history reads a batch's
#: rooms in one UNION ALL of at most two parts a room: SQLite takes 500 parts at most
#: (SQLITE_MAX_COMPOUND_SELECT), so 250 is this batch's ceiling there.
MAX_BATCH = 200


class Entering(Protocol):
    """What the door needs of a consumer (SocketConsumer is one)."""

    connection_id: str
    route: str
    credentials: Credentials | None
    user: Any
    registered: bool

    def room_key(self) -> str: ...

    @classmethod
    def before_admit(cls, sockets: list[Any], memo: dict[Any, Any]) -> None: ...

    def admit(self, memo: dict[Any, Any]) -> None: ...

    @classmethod
    def before_prepare(cls, sockets: list[Any], memo: dict[Any, Any]) -> None: ...

    def prepare(self, memo: dict[Any, Any]) -> None: ...

    def entered(self) -> None: ...


class HandshakeFailed(Refused):
    """The batch's database trip failed (logged once by the door): the socket closes
    1011 (a server error: reconnect with backoff), without a trace of its own."""

    def __init__(self, cause: str) -> None:
        super().__init__(CloseCode.INTERNAL_ERROR, f"handshake failed: {cause}")


#: What enter() answers: True (admitted, registered, prepared), or why not.
Outcome = bool | BadCredentials | Refused | BaseException


def open_batch(sockets: list[Entering]) -> list[Outcome]:
    """The database work of many handshakes, in one transaction (a sync call).

    In order: load the users of token credentials (one query), let each route read for
    all its sockets at once (`before_admit`) and admit each (`admit(memo)`: raise
    Refused), register the admitted ones with their per-user cap (4429 past it), then
    let each route read its welcomes for all its sockets (`before_prepare`) and prepare
    each (`prepare(memo)`), the memo shared by the batch. A refusal is that socket's
    outcome and leaves the others alone.
    """
    outcomes: list[Outcome | None] = [None] * len(sockets)
    with transaction.atomic():
        pending = [
            i
            for i, s in enumerate(sockets)
            if s.credentials is not None and s.credentials.user is None
        ]
        answers = users_for_credentials([sockets[i].credentials for i in pending])  # type: ignore[misc]
        for i, answer in zip(pending, answers, strict=True):
            if isinstance(answer, BadCredentials):
                outcomes[i] = answer
            else:
                sockets[i].credentials = answer
                sockets[i].user = answer.user
        memo: dict[Any, Any] = {}
        _before(sockets, outcomes, "before_admit", memo)
        for i, sock in enumerate(sockets):
            if outcomes[i] is None:
                try:
                    sock.admit(memo)
                except Refused as refusal:
                    outcomes[i] = refusal
        registering = [
            i
            for i, s in enumerate(sockets)
            if outcomes[i] is None and s.credentials is not None
        ]
        allowed = services.connections_open(
            openings=[
                services.Opening(
                    sockets[i].connection_id,
                    sockets[i].credentials.user_id,  # type: ignore[union-attr]
                    sockets[i].route,
                    sockets[i].room_key(),
                )
                for i in registering
            ],
            process_id=PROCESS_ID,
            max_per_user=int(settings.WS_MAX_CONNECTIONS_PER_USER),
            lease_seconds=float(settings.WS_PROCESS_LEASE_SECONDS),
        )
        for i, ok in zip(registering, allowed, strict=True):
            if ok:
                sockets[i].registered = True
            else:
                outcomes[i] = Refused(
                    CloseCode.RATE_LIMITED, "too many sockets for this user"
                )
        _before(sockets, outcomes, "before_prepare", memo)
        for i, sock in enumerate(sockets):
            if outcomes[i] is None:
                try:
                    sock.prepare(memo)
                except DatabaseError:
                    # On PostgreSQL the shared transaction is now aborted: its COMMIT
                    # would roll back every row of the batch while the sockets opened.
                    # The whole batch fails instead (each socket closes 1011, retries).
                    raise
                except Exception as exc:  # this socket's own; its row goes at teardown
                    outcomes[i] = exc
                else:
                    outcomes[i] = True
    return outcomes  # type: ignore[return-value]


def _before(
    sockets: list[Entering], outcomes: list[Any], hook: str, memo: dict[Any, Any]
) -> None:
    """Run a route's batch read (before_admit, before_prepare) once per route, with
    its sockets still in the running; it may raise (the whole batch fails: 1011)."""
    by_class: dict[type, list[Entering]] = {}
    for sock, outcome in zip(sockets, outcomes, strict=True):
        if outcome is None:
            by_class.setdefault(type(sock), []).append(sock)
    for cls, group in by_class.items():
        getattr(cls, hook)(group, memo)


class Door:
    """The batching queues of one event loop: handshakes in, closes out."""

    def __init__(self) -> None:
        self._entering: list[tuple[Entering, asyncio.Future[Outcome]]] = []
        self._leaving: list[tuple[str, asyncio.Future[None]]] = []
        self._enter_task: asyncio.Task[None] | None = None
        self._leave_task: asyncio.Task[None] | None = None

    async def enter(self, sock: Entering) -> Outcome:
        """The handshake's database work (see open_batch); its outcome."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        self._entering.append((sock, future))
        if self._enter_task is None or self._enter_task.done():
            self._enter_task = loop.create_task(self._drain_entering())
        return await future

    async def leave(self, connection_id: str) -> None:
        """Remove a socket's registry row (batched with the other closes)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._leaving.append((connection_id, future))
        if self._leave_task is None or self._leave_task.done():
            self._leave_task = loop.create_task(self._drain_leaving())
        await future

    async def _drain_entering(self) -> None:
        run = database_sync_to_async(open_batch)
        while self._entering:
            batch = self._entering[:MAX_BATCH]
            del self._entering[:MAX_BATCH]
            try:
                outcomes: list[Outcome] = await run([s for s, _ in batch])
            except Exception as exc:  # the database is out: every handshake fails
                log.error("handshake batch of %d failed", len(batch), exc_info=exc)
                # One exception object raised by 200 consumers would grow its traceback
                # with each raise: each socket gets its own, without the trace.
                outcomes = [HandshakeFailed(type(exc).__name__) for _ in batch]
            for (sock, future), outcome in zip(batch, outcomes, strict=True):
                if outcome is True:
                    # On the loop, in the order the batches read the database.
                    sock.entered()
                if not future.done():
                    future.set_result(outcome)
                elif sock.registered:
                    # Its socket went away meanwhile: the row it got must go too.
                    sock.registered = False
                    asyncio.get_running_loop().create_task(
                        self.leave(sock.connection_id)
                    )

    async def _drain_leaving(self) -> None:
        run = database_sync_to_async(services.connections_close)
        while self._leaving:
            batch = self._leaving[:MAX_BATCH]
            del self._leaving[:MAX_BATCH]
            try:
                await run(connection_ids=[cid for cid, _ in batch])
            except Exception:
                log.exception("registry rows not removed; the lease sweep will")
            for _, future in batch:
                if not future.done():
                    future.set_result(None)


_doors: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Door] = (
    weakref.WeakKeyDictionary()
)


def door() -> Door:
    """The running loop's door (tests run many loops in one process)."""
    loop = asyncio.get_running_loop()
    found = _doors.get(loop)
    if found is None:
        found = _doors[loop] = Door()
    return found
