"""Writes of notifications: create (one user or many at once), mark read; pushes after commit."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from notifications import schemas
from notifications.models import Notification
from notifications.selectors import notification_unread_count
from notifications.topics import notify_topic
from realtime.fanout import broadcast

#: rows per INSERT of a bulk send (Django lowers it further where the backend needs it)
BULK_BATCH_SIZE = 1000


#: a same-site path: one "/", then no "/" or backslash (browsers read "//x" and "/\x"
#: as another host), and no whitespace or control characters (browsers drop tabs and
#: newlines inside URLs, so "/<tab>/x" would become "//x")
_SITE_PATH = re.compile(r"/(?![/\\])[^\s\x00-\x1f\x7f\\]*\Z")
_WEB_URL = URLValidator(schemes=["http", "https"])


def link_is_safe(link: str) -> bool:
    """Whether a notification may link there: an http(s) URL or a same-site path.

    Anything else (`javascript:`, `data:`, protocol-relative `//host`) is refused:
    clients put the link in an `href`.
    """
    if link.startswith("/"):
        return _SITE_PATH.match(link) is not None
    try:
        _WEB_URL(link)
    except ValidationError:
        return False
    return True


def _validated(
    *, title: str, body: str, level: str, link: str
) -> tuple[str, str, str, str]:
    """The cleaned fields of a notification, or ValidationError naming the bad ones."""
    title = (title or "").strip()
    body = (body or "").strip()
    link = (link or "").strip()
    errors: dict[str, str] = {}
    max_title = Notification._meta.get_field("title").max_length
    max_body = Notification._meta.get_field("body").max_length
    max_link = Notification._meta.get_field("link").max_length
    if not title:
        errors["title"] = "This field is required."
    elif len(title) > max_title:
        errors["title"] = f"At most {max_title} characters."
    if len(body) > max_body:
        errors["body"] = f"At most {max_body} characters."
    if level not in Notification.Level.values:
        errors["level"] = f"One of {', '.join(Notification.Level.values)}."
    if len(link) > max_link:
        errors["link"] = f"At most {max_link} characters."
    elif link and not link_is_safe(link):
        errors["link"] = (
            "Use an http(s) URL or a path on this site starting with one /."
        )
    if errors:
        raise ValidationError(errors)
    return title, body, level, link


@transaction.atomic
def notification_create(
    *, user_id: int, title: str, body: str = "", level: str = "info", link: str = ""
) -> Notification:
    """Store one notification for one user; after commit it reaches their notify sockets."""
    title, body, level, link = _validated(
        title=title, body=body, level=level, link=link
    )
    notification = Notification.objects.create(
        user_id=user_id, title=title, body=body, level=level, link=link
    )
    broadcast.publish(
        notify_topic(user_id),
        schemas.notification_frame(
            id=notification.pk,
            title=title,
            body=body,
            level=level,
            link=link,
            created=notification.created,
            read=False,
        ),
    )
    return notification


@transaction.atomic
def notifications_create_bulk(
    *,
    user_ids: Iterable[int],
    title: str,
    body: str = "",
    level: str = "info",
    link: str = "",
    batch_size: int = BULK_BATCH_SIZE,
) -> int:
    """Store one notification for each user in one transaction; push after commit.

    One multi-row INSERT per `batch_size` rows; the frame is encoded once and each
    recipient's copy only gets its row's id spliced in. Returns how many were stored.
    """
    title, body, level, link = _validated(
        title=title, body=body, level=level, link=link
    )
    recipients = list(dict.fromkeys(int(u) for u in user_ids))
    if not recipients:
        return 0
    created = timezone.now()
    encoder = schemas.NotificationEncoder(
        title=title, body=body, level=level, link=link, created=created
    )
    frames: list[tuple[str, str]] = []
    for start in range(0, len(recipients), batch_size):
        rows = [
            Notification(
                user_id=uid,
                title=title,
                body=body,
                level=level,
                link=link,
                created=created,
            )
            for uid in recipients[start : start + batch_size]
        ]
        Notification.objects.bulk_create(rows, batch_size=batch_size)
        frames.extend(
            (notify_topic(row.user_id), encoder.encode(row.pk)) for row in rows
        )
    broadcast.publish_many(frames, kind="notification")
    return len(recipients)


def _lock_user(user_id: int) -> None:
    """Serialise read-state changes of one user, so the counts pushed come out in order."""
    list(
        get_user_model()
        .objects.select_for_update()
        .filter(pk=user_id)
        .values_list("pk")
    )


@transaction.atomic
def notification_mark_read(*, notification_id: int, user_id: int) -> int | None:
    """Mark one of the user's notifications read; push and return the new unread count.

    Every notify socket of the user gets the count. None (and nothing pushed) when the
    user has no notification with that id, whether it is someone else's or missing.
    """
    _lock_user(user_id)
    mine = Notification.objects.filter(pk=notification_id, user_id=user_id)
    if not mine.filter(read_at__isnull=True).update(read_at=timezone.now()):
        if not mine.exists():
            return None
    count = notification_unread_count(user_id=user_id)
    broadcast.publish(notify_topic(user_id), schemas.unread_frame(count))
    return count


@transaction.atomic
def notifications_withdraw(*, user_ids: Iterable[int], link: str, title: str) -> int:
    """Take back what these users were told with this link and title (a mention whose
    message was deleted, or edited to no longer name them): their copy of the text goes
    with it. Each user who lost one gets the new unread count on their sockets; how
    many were deleted."""
    ids = sorted(set(user_ids))
    if not ids:
        return 0
    rows = Notification.objects.filter(user_id__in=ids, link=link, title=title)
    affected = sorted(set(rows.values_list("user_id", flat=True)))
    deleted, _ = rows.delete()
    for user_id in affected:
        count = notification_unread_count(user_id=user_id)
        broadcast.publish(notify_topic(user_id), schemas.unread_frame(count))
    return deleted


@transaction.atomic
def notifications_mark_all_read(*, user_id: int) -> int:
    """Mark every notification of the user read; pushes (and returns) the unread count."""
    _lock_user(user_id)
    Notification.objects.filter(user_id=user_id, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    count = notification_unread_count(user_id=user_id)
    broadcast.publish(notify_topic(user_id), schemas.unread_frame(count))
    return count
