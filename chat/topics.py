"""The chat app's names on the plumbing: its socket route and its topics.

The topics are built from ids, never from URL text.
"""

from __future__ import annotations

#: The route of a chat socket: its consumer's `route`, its registry rows' `route`.
ROUTE = "chat"


def chat_room_group(room_id: int) -> str:
    """The topic of one room's sockets."""
    return f"chat.room.{int(room_id)}"


def chat_all_group() -> str:
    """The topic every chat socket also joins: system broadcasts to every room."""
    return "chat.all"
