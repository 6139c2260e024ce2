"""Each process repairs its own sockets' stream of room messages (cluster mode).

The relay between processes may lose a message's live frame: a process SIGKILLed after
the commit and before its relay publish (a reconnect storm's usual start), or a channel
layer that drops. The history never does (PROTOCOL.md 4), so this part, on each process,
fills what its room topics missed from the database:

- every `message` event a room topic held here delivers goes through the sequencer
  (realtime.fanout.sequence): a seq past the next one marks those between as missing,
  a seq delivered already is dropped (each seq once per socket, repairs included);
- every CHECK_INTERVAL, one query reads the last seq of every room tracked here: a
  message the relay never brought (the last before a quiet spell shows no gap) is
  missing from then on;
- a seq missing for GRACE seconds (a live frame late behind a slow relay is not a loss)
  is read from the database and delivered to the topic's sockets, as it is now: all the
  overdue of a round in one query (while Redis is down, every room's messages from the
  other processes come this way, a second late).

A topic is tracked from its first socket's welcome (its history held every seq up to the
room's last at the handshake) or its first message, whichever comes first. Embedded
mode has no relay: every event is delivered in the process that commits it, so this
part does nothing there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from channels.db import database_sync_to_async

from chat import selectors
from chat.topics import chat_room_group
from realtime.fanout.hub import Event, Hub
from realtime.fanout.hub import hub as the_hub
from realtime.fanout.sequence import Sequencer
from realtime.socket.frames import dumps

log = logging.getLogger("chat.repair")

ROOM_PREFIX = chat_room_group(0).removesuffix("0")
#: seconds a missing seq may be late (a slow relay) before it is read from the database
GRACE = 1.0
#: seconds between reads of the tracked rooms' last seqs
CHECK_INTERVAL = 1.0
#: seconds between looks for overdue seqs
TICK = 0.25
#: the most messages one round reads (a long outage's backlog goes over several)
ROUND_MAX = 2000


def room_id_of(topic: str) -> int | None:
    """The room id of a room topic (`chat.room.<id>`), or None for any other topic."""
    if not topic.startswith(ROOM_PREFIX):
        return None
    tail = topic[len(ROOM_PREFIX) :]
    return int(tail) if tail.isdigit() else None


class Repair:
    """A lifecycle part (after the hub: it resets its guards); see the module docstring."""

    name = "chat repair"

    def __init__(self, hub: Hub = the_hub, clock: Any = time.monotonic) -> None:
        self.hub = hub
        self.clock = clock
        self.seqs = Sequencer()
        self._task: asyncio.Task[None] | None = None
        self._checked = 0.0

    @property
    def active(self) -> bool:
        return self._task is not None

    async def start(self) -> None:
        if self.hub.relay is None:
            return  # embedded: nothing crosses a relay, nothing to repair
        self.seqs = Sequencer()
        self.hub.guard("message", self._admit)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is None:
            return
        self.hub.unguard("message")
        self._task.cancel()
        self._task = None

    def baseline(self, room_id: int, last_seq: int) -> None:
        """A welcome of this room held every seq up to `last_seq` (called on the loop)."""
        if self._task is not None:
            self.seqs.baseline(chat_room_group(room_id), last_seq)

    def _admit(self, topic: str, event: Event) -> bool:
        if event.seq is None or room_id_of(topic) is None:
            return True
        return self.seqs.admit(topic, event.seq, self.clock())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            try:
                await self.repair_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is out: the next tick tries again
                log.warning("seq repair failed", exc_info=True)

    async def repair_once(self) -> int:
        """One round: forget topics let go, read the last seqs when due, deliver the
        overdue; how many messages it delivered."""
        self.seqs.keep(self.hub.topics)
        now = self.clock()
        if now - self._checked >= CHECK_INTERVAL and self.seqs.top:
            self._checked = now
            rooms = {room_id_of(t): t for t in self.seqs.top}
            rooms.pop(None, None)
            latest = await database_sync_to_async(selectors.rooms_last_seq)(
                room_ids=list(rooms)
            )
            now = self.clock()
            for room_id, last in latest.items():
                self.seqs.latest(rooms[room_id], last, now)
        overdue = self.seqs.overdue(self.clock() - GRACE)
        if not overdue:
            return 0
        budget, capped = ROUND_MAX, {}
        for topic, seqs in overdue.items():  # one bounded query; the rest next round
            if budget <= 0:
                break
            capped[topic], budget = seqs[:budget], budget - len(seqs)
        overdue = capped
        rooms = {t: room_id_of(t) for t in overdue}
        found = await database_sync_to_async(selectors.messages_at)(
            wanted={rooms[t]: seqs for t, seqs in overdue.items() if rooms[t]}
        )
        delivered = 0
        for topic, seqs in overdue.items():
            for frame in found.get(rooms[topic], ()):  # type: ignore[arg-type]
                event = Event(text=dumps(frame), kind="message", seq=frame["seq"])
                delivered += bool(self.hub.deliver_local(topic, event))
            # Delivered, or gone with its room, or its topic let go meanwhile: settled.
            self.seqs.settled(topic, seqs)
        if delivered:
            log.info("repaired %d message(s) the relay never brought", delivered)
        return delivered


repair = Repair()
