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


def chat_activity_topic(room_id: int) -> str:
    """The topic of one room's activity frames: the notify sockets of its members.

    A notify socket subscribes at its handshake to the topic of every room its user
    belongs to, and is kept in step by FOLLOW and UNFOLLOW events (chat.services.activity).
    """
    return f"chat.activity.{int(room_id)}"


#: internal events on a user's notify topic (never sent to a client): start or stop
#: taking the activity topic the event's `text` names (UNFOLLOW on the activity topic
#: itself: every subscriber leaves it, the room is gone)
FOLLOW = "activity.follow"
UNFOLLOW = "activity.unfollow"
ACTIVITY_TOPIC_PREFIX = "chat.activity."
