"""Each message once and in `seq` order: the pure half of resume and backfill.

Message frames from a room's socket, its welcome history and REST backfill all pass
through `ingest`. It tracks the last seq delivered (sent as `?since=` on the next
handshake), drops what it delivered already (by seq, and by id), and holds a message
that arrives past a gap: the connection waits a moment for the missing seqs (the channel
layer may reorder two commits), then backfills them over REST, then gives up waiting
(`release_held`). Without ordering (notify) it only dedupes by id.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Literal

Message = Mapping[str, Any]
Outcome = Literal["delivered", "held", "duplicate"]

#: ids remembered for dedupe
SEEN_IDS = 5000


class Sequencer:
    """Orders and dedupes one socket's messages across reconnects."""

    def __init__(self, *, ordered: bool = True, last_seq: int | None = None) -> None:
        self.ordered = ordered
        self._last_seq = last_seq
        self._seen: OrderedDict[Any, None] = OrderedDict()
        self._held: dict[int, Message] = {}

    @property
    def last_seq(self) -> int | None:
        """Highest seq delivered, or None: what `?since=` resumes from."""
        return self._last_seq

    @property
    def held(self) -> int:
        """Messages waiting for a missing seq before them."""
        return len(self._held)

    @property
    def first_held(self) -> int | None:
        """The lowest seq held past a gap, or None."""
        return min(self._held) if self._held else None

    def ingest(self, message: Message) -> tuple[Outcome, list[Message]]:
        """Take one message: what became of it, and what may be delivered now, in order.

        A message after the gap it filled releases the ones held behind it, so the
        list may hold more than one.
        """
        msg_id = message.get("id")
        if msg_id is not None and msg_id in self._seen:
            return "duplicate", []
        seq = message.get("seq")
        if not self.ordered or not isinstance(seq, int) or isinstance(seq, bool):
            self._mark(message)
            return "delivered", [message]
        if self._last_seq is not None and seq <= self._last_seq:
            return "duplicate", []
        if self._last_seq is None or seq == self._last_seq + 1:
            self._mark(message)
            return "delivered", [message, *self._drain()]
        if seq in self._held:
            return "duplicate", []
        self._held[seq] = message
        return "held", []

    def release_held(self) -> list[Message]:
        """Deliver whatever is held, in order, accepting a gap nothing can fill."""
        out = []
        for seq in sorted(self._held):
            message = self._held[seq]
            if message.get("id") not in self._seen:
                self._mark(message)
                out.append(message)
        self._held.clear()
        return out

    def _mark(self, message: Message) -> None:
        msg_id = message.get("id")
        if msg_id is not None:
            self._seen[msg_id] = None
            if len(self._seen) > SEEN_IDS:
                self._seen.popitem(last=False)
        seq = message.get("seq")
        if (
            self.ordered
            and isinstance(seq, int)
            and (self._last_seq is None or seq > self._last_seq)
        ):
            self._last_seq = seq

    def _drain(self) -> list[Message]:
        out = []
        assert self._last_seq is not None
        while self._last_seq + 1 in self._held:
            message = self._held.pop(self._last_seq + 1)
            self._mark(message)
            out.append(message)
        # Anything held at or below last_seq arrived twice.
        for seq in [s for s in self._held if s <= self._last_seq]:
            del self._held[seq]
        return out
