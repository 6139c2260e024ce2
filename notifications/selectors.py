"""Reads of notifications; every one is scoped to one user (the caller picks which)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from notifications import schemas
from notifications.models import Notification

BACKLOG_LIMIT = 100


def notification_list(
    *, user_id: int, unread_only: bool = False
) -> QuerySet[Notification]:
    """The user's notifications, newest first (optionally only the unread ones)."""
    qs = Notification.objects.filter(user_id=user_id)
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return qs.order_by("-created", "-id")


def notification_unread_count(*, user_id: int) -> int:
    """How many of the user's notifications are unread."""
    return Notification.objects.filter(user_id=user_id, read_at__isnull=True).count()


def notification_backlog(
    *, user_id: int, limit: int = BACKLOG_LIMIT
) -> tuple[int, list[dict[str, Any]]]:
    """(unread count, up to `limit` unread notifications as frames, newest first)."""
    rows = notification_list(user_id=user_id, unread_only=True).values_list(
        "id", "title", "body", "level", "link", "created"
    )[:limit]
    frames = [
        schemas.notification_frame(
            id=pk,
            title=title,
            body=body,
            level=level,
            link=link,
            created=created,
            read=False,
        )
        for pk, title, body, level, link, created in rows
    ]
    count = (
        len(frames)
        if len(frames) < limit
        else notification_unread_count(user_id=user_id)
    )
    return count, frames


#: SQLite's default cap on the parameters of one statement is 999 in old builds
_CHUNK = 900


def users_by_usernames(*, usernames: list[str]) -> tuple[list[int], list[str]]:
    """(ids of the users named, the names that match no user), in the order given."""
    wanted = list(dict.fromkeys(usernames))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        found.update(
            get_user_model()
            .objects.filter(username__in=chunk)
            .values_list("username", "id")
        )
    return [found[n] for n in wanted if n in found], [
        n for n in wanted if n not in found
    ]


def users_by_ids(*, user_ids: list[int]) -> tuple[list[int], list[int]]:
    """(the ids that name a user, the ones that do not), in the order given."""
    wanted = list(dict.fromkeys(int(i) for i in user_ids))
    found: set[int] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        found.update(
            get_user_model().objects.filter(pk__in=chunk).values_list("id", flat=True)
        )
    return [i for i in wanted if i in found], [i for i in wanted if i not in found]


def active_user_ids() -> list[int]:
    """Every active user's id (a send to all users)."""
    return list(
        get_user_model()
        .objects.filter(is_active=True)
        .order_by("id")
        .values_list("id", flat=True)
    )


#: what sending a notification takes, on REST and in the admin alike (besides staff)
SEND_PERMISSION = "notifications.add_notification"


def user_may_send_notifications(*, user: Any) -> bool:
    """Staff holding notifications.add_notification (superusers hold every permission)."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.has_perm(SEND_PERMISSION)
    )


def recipients(
    *, usernames: list[str], user_ids: list[int]
) -> tuple[list[int], dict[str, list[str]]]:
    """The user ids a send names, and field errors for the names and ids that match no
    user (the staff REST send and the server API answer them as a 400)."""
    errors: dict[str, list[str]] = {}
    ids: list[int] = []
    if usernames:
        found, unknown = users_by_usernames(usernames=usernames)
        ids += found
        if unknown:
            errors["usernames"] = [f"Unknown usernames: {', '.join(unknown)}"]
    if user_ids:
        found_ids, unknown_ids = users_by_ids(user_ids=user_ids)
        ids += found_ids
        if unknown_ids:
            errors["user_ids"] = [
                f"Unknown user ids: {', '.join(map(str, unknown_ids))}"
            ]
    return ids, errors
