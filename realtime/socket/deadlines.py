"""The sockets' deadlines (silence 4408, token expiry 4401): one loop timer per slot of
GRAIN seconds for every socket due in it, not one timer per socket.

A timer per idle socket (uvloop's TimerHandle, its libuv timer, the bound method and the
arguments) cost about 550 bytes on each of 10,000 sockets (issue 13); a slot's set costs
each member a few dozen. A deadline is met at most GRAIN seconds late: the session's
rules read the clock when called (realtime.socket.session), so the close is the same.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Protocol

#: seconds of one slot: how late a deadline may be met
GRAIN = 0.1


class Due(Protocol):
    def _deadline(self) -> None: ...


class Deadlines:
    """Slots of sockets due at the same time, each with one timer on the running loop."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: dict[int, set[Due]] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}

    def add(self, due: Due, when: float) -> int:
        """Call `due._deadline()` once at `when` (time.monotonic), at most GRAIN late;
        returns the slot, for discard()."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # Another loop (a test's): the old one's slots can never fire now.
            self._loop, self._slots, self._timers = loop, {}, {}
        slot = math.ceil(when / GRAIN)
        members = self._slots.get(slot)
        if members is None:
            members = self._slots[slot] = set()
            delay = max(0.0, slot * GRAIN - time.monotonic())
            self._timers[slot] = loop.call_at(loop.time() + delay, self._fire, slot)
        members.add(due)
        return slot

    def discard(self, due: Due, slot: int) -> None:
        """Forget `due` in `slot` (its deadline moved, or the socket is gone)."""
        members = self._slots.get(slot)
        if members is None:
            return
        members.discard(due)
        if not members:
            del self._slots[slot]
            self._timers.pop(slot).cancel()

    def _fire(self, slot: int) -> None:
        self._timers.pop(slot, None)
        for due in self._slots.pop(slot, ()):
            due._deadline()

    def __len__(self) -> int:
        return sum(map(len, self._slots.values()))


#: the process's deadlines (sockets live on one loop)
deadlines = Deadlines()
