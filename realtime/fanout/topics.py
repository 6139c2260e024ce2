r"""The plumbing's own topics (each app names its own in `<app>/topics.py`).

Topic names are built from ids, never from URL text, and fit Channels' group names
(`^[a-zA-Z\d\-_.]+$`, under 100 characters).
"""

from __future__ import annotations


def user_topic(user_id: int) -> str:
    """The topic every socket of a user joins (kicks on logout, read-count sync)."""
    return f"user.{int(user_id)}"
