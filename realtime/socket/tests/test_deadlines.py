"""The shared deadline timers: one per slot, each socket called once, never early."""

from __future__ import annotations

import asyncio
import time

from realtime.socket.deadlines import GRAIN, Deadlines


class Socket:
    def __init__(self) -> None:
        self.called: list[float] = []

    def _deadline(self) -> None:
        self.called.append(time.monotonic())


async def test_sockets_due_in_the_same_slot_share_one_timer_and_each_is_called_once():
    wheel = Deadlines()
    when = time.monotonic() + 0.05
    sockets = [Socket() for _ in range(50)]
    for s in sockets:
        wheel.add(s, when)
    assert len(wheel._timers) == 1 and len(wheel) == 50
    await asyncio.sleep(0.05 + 2 * GRAIN)
    assert all(len(s.called) == 1 for s in sockets)
    # never early, and late by one slot at most (plus the loop's own lag)
    assert all(when <= s.called[0] < when + GRAIN + 0.05 for s in sockets)
    assert len(wheel) == 0 and not wheel._timers


async def test_a_discarded_socket_is_not_called_and_an_empty_slot_drops_its_timer():
    wheel = Deadlines()
    gone, kept = Socket(), Socket()
    when = time.monotonic() + 0.02
    slot = wheel.add(gone, when)
    wheel.discard(gone, slot)
    assert not wheel._timers
    wheel.add(gone, when)
    wheel.add(kept, when)
    wheel.discard(gone, slot)
    await asyncio.sleep(0.02 + 2 * GRAIN)
    assert (gone.called, len(kept.called)) == ([], 1)
