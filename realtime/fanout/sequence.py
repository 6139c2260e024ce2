"""Which seqs of each sequenced topic this process delivered, and which never came.

In cluster mode a room's messages reach a process over the relay, which may drop one: a
process SIGKILLed between a message's commit and its relay publish takes the live frame
with it, and a channel layer may lose a message (PROTOCOL.md 4: the history never does).
A client backfills a gap when a later seq shows it, but the last message before a quiet
spell shows no gap, and a reconnect storm's clients should not all page REST at once.
So each process repairs its own sockets' stream (chat.repair): this is its bookkeeping,
pure and clock-free, one instance per process, used on the hub's loop only.

Per topic: `top`, the highest seq delivered here, and `missing`, the seqs below it that
never came, each with the moment it was first missed. A seq at or below `top` that is not
missing was delivered already: the guard drops it, so each seq reaches a socket once
even when a repair and a late relay both bring it.
"""

from __future__ import annotations

from collections.abc import Iterable

#: the most seqs of one topic waited for at a time (a longer gap: the oldest are left to
#: the clients' own backfill, as the protocol says; a late live frame of one of those is
#: dropped as delivered, which a client's gap backfill covers too)
MISSING_MAX = 1000


class Sequencer:
    """See the module docstring."""

    def __init__(self) -> None:
        self.top: dict[str, int] = {}
        self.missing: dict[str, dict[int, float]] = {}

    def admit(self, topic: str, seq: int, now: float) -> bool:
        """An event of `seq` on `topic` arrived: whether to deliver it (False: it was)."""
        top = self.top.get(topic)
        if top is None or seq == top + 1:
            self.top[topic] = seq
            return True
        if seq > top:
            self._miss(topic, range(top + 1, seq), now)
            self.top[topic] = seq
            return True
        gap = self.missing.get(topic)
        if gap is not None and gap.pop(seq, None) is not None:
            if not gap:
                del self.missing[topic]
            return True
        return False

    def baseline(self, topic: str, seq: int) -> None:
        """Every seq up to `seq` is accounted for (a welcome's history held them): track
        `topic` from there, unless it is tracked already."""
        self.top.setdefault(topic, seq)

    def latest(self, topic: str, seq: int, now: float) -> None:
        """The database's last seq of `topic`: any above `top` is missing from now on."""
        top = self.top.get(topic)
        if top is not None and seq > top:
            self._miss(topic, range(top + 1, seq + 1), now)
            self.top[topic] = seq

    def overdue(self, missed_before: float) -> dict[str, list[int]]:
        """The seqs missed before `missed_before` (their grace is over), by topic."""
        found: dict[str, list[int]] = {}
        for topic, gap in self.missing.items():
            late = sorted(seq for seq, at in gap.items() if at <= missed_before)
            if late:
                found[topic] = late
        return found

    def settled(self, topic: str, seqs: Iterable[int]) -> None:
        """These seqs were repaired or cannot be (gone from the database): stop waiting."""
        gap = self.missing.get(topic)
        if gap is None:
            return
        for seq in seqs:
            gap.pop(seq, None)
        if not gap:
            del self.missing[topic]

    def keep(self, topics: Iterable[str]) -> None:
        """Forget every topic not among `topics` (no local socket holds it any more)."""
        held = set(topics)
        for topic in [t for t in self.top if t not in held]:
            del self.top[topic]
            self.missing.pop(topic, None)

    def _miss(self, topic: str, seqs: range, now: float) -> None:
        gap = self.missing.setdefault(topic, {})
        for seq in seqs[-MISSING_MAX:]:
            gap.setdefault(seq, now)
        if len(gap) > MISSING_MAX:
            for seq in sorted(gap)[: len(gap) - MISSING_MAX]:
                del gap[seq]
