"""This process's map of room slugs to ids, for the chat handshake's subscription.

A socket subscribes to its room's topic (built from the id) before the handshake's
database trip, so that no message falls between its history and its live frames; the
id must therefore be known first. A slug's id never changes while the room lives; the
trip checks the room by slug and id together (ChatConsumer.admit), and an entry that
went stale (the room deleted, or made anew under its slug) is forgotten there.
"""

from __future__ import annotations

from collections import OrderedDict

#: slugs remembered at most (the least recently used go first)
MAX_ROOMS = 50_000


class RoomIds:
    """An LRU map of slug -> room id."""

    def __init__(self, limit: int = MAX_ROOMS) -> None:
        self.limit = limit
        self._ids: OrderedDict[str, int] = OrderedDict()

    def get(self, slug: str) -> int | None:
        """The remembered id of `slug`, or None."""
        room_id = self._ids.get(slug)
        if room_id is not None:
            self._ids.move_to_end(slug)
        return room_id

    def put(self, slug: str, room_id: int) -> None:
        """Remember `slug`'s id."""
        self._ids[slug] = room_id
        self._ids.move_to_end(slug)
        while len(self._ids) > self.limit:
            self._ids.popitem(last=False)

    def forget(self, slug: str) -> None:
        """Drop `slug` (its room is gone or was made anew)."""
        self._ids.pop(slug, None)

    def clear(self) -> None:
        """Forget every slug (tests: each test's database has its own ids)."""
        self._ids.clear()


room_ids = RoomIds()
