"""The notify app's topic names (one helper, never raw URL text)."""

from __future__ import annotations


def notify_topic(user_id: int) -> str:
    """The topic only the user's notify sockets join: their notifications and read counts.

    Not the plumbing's user topic, which every socket of the user (chat too) joins: a
    notification frame must never reach a chat socket, whatever that consumer forwards.
    """
    return f"notify.user.{int(user_id)}"
