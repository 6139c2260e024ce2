"""Which of a room's changes this client has applied: the pure half of resume by `rev`.

Every edit, delete or reaction bumps the room's `rev` by one and reaches the room's
sockets as a `message_updated` frame stamped with it (PROTOCOL.md 10), so the live
stream of changes is gapless like the stream of messages. `rev` here is the high-water
mark below which nothing is missing: the next handshake sends it as `?rev=`, and the
welcome's `changes` (or `GET /api/rooms/<room>/changes/?rev=`) hands back every message
changed since. A frame past a gap is applied at once (a change is the message's whole
current state, so applying it early is harmless) and remembered, and the gap is filled
from REST after a grace, as the sequencer does for seqs.
"""

from __future__ import annotations


class Revisions:
    """One room's applied changes, across reconnects."""

    def __init__(self, rev: int | None = None) -> None:
        self._rev = rev
        self._ahead: set[int] = set()

    @property
    def rev(self) -> int | None:
        """Every change up to this rev is applied: what `?rev=` resumes from."""
        return self._rev

    @property
    def gap(self) -> bool:
        """A change past a missing one arrived: the missing one is to be fetched."""
        return bool(self._ahead)

    def welcome(self, rev: object) -> None:
        """A welcome's `rev`: its history and changes hold the room's state up to it."""
        if isinstance(rev, int) and not isinstance(rev, bool):
            self._rev = rev
            self._ahead = {r for r in self._ahead if r > rev}
            self._advance()

    def live(self, rev: object) -> None:
        """A live change's rev."""
        if not isinstance(rev, int) or isinstance(rev, bool):
            return
        if self._rev is None:
            self._rev = rev
        elif rev > self._rev:
            self._ahead.add(rev)
            self._advance()

    def fetched(self, rev: int) -> None:
        """REST answered every change after our rev: the newest it held was `rev`.

        The newest change of the room is on its message, so a page's highest rev is the
        room's rev when it was read: nothing below it is missing any more.
        """
        if self._rev is None or rev > self._rev:
            self._rev = rev
        self._ahead = {r for r in self._ahead if r > self._rev}
        self._advance()

    def _advance(self) -> None:
        assert self._rev is not None
        while self._rev + 1 in self._ahead:
            self._rev += 1
            self._ahead.discard(self._rev)
