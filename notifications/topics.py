"""The notify app's names on the plumbing: its socket route and its topic.

The topic is built from the user's id, never from URL text.
"""

from __future__ import annotations

#: The route of a notify socket: its consumer's `route`, its registry rows' `route`.
ROUTE = "notify"


def notify_topic(user_id: int) -> str:
    """The topic only the user's notify sockets join: their notifications and read counts.

    Not the plumbing's user topic, which every socket of the user (chat too) joins: a
    notification frame must never reach a chat socket, whatever that consumer forwards.
    """
    return f"notify.user.{int(user_id)}"
