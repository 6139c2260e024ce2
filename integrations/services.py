"""Writes of the integrations app: API keys, webhooks, the outbox and its deliveries.

The outbox rows are written by the receivers of chat's signals, inside the transaction
of the event; the delivery loop (integrations.delivery) claims and records them here.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.services import user_sockets_close
from integrations import addresses, events, selectors
from integrations.models import EVENTS, SCOPES, ApiKey, Webhook, WebhookDelivery
from realtime.socket.closecodes import CloseCode

#: the longest wait between two attempts of one delivery
BACKOFF_MAX_SECONDS = 3600.0
#: how long a claimed delivery is kept from other processes beyond WEBHOOK_TIMEOUT: if
#: its process dies meanwhile, another one retries it after this
CLAIM_MARGIN_SECONDS = 30.0
ERROR_MAX = 500
#: delivered and failed deliveries are kept this long for the admin, then pruned
KEEP_FINISHED = dt.timedelta(days=7)


# --- API keys ---------------------------------------------------------------------------


def _choice(field: str, given: Iterable[str], allowed: Iterable[str]) -> list[str]:
    """The distinct names `given`, each one of `allowed`, at least one; else a field error."""
    allowed = list(allowed)
    chosen = list(dict.fromkeys(g.strip() for g in given if g.strip()))
    unknown = [g for g in chosen if g not in allowed]
    if unknown or not chosen:
        raise ValidationError(
            {field: [f"One or more of {', '.join(allowed)} (not {unknown or 'none'})."]}
        )
    return chosen


def _scopes(scopes: Iterable[str]) -> list[str]:
    return _choice("scopes", scopes, SCOPES)


@transaction.atomic
def api_key_create(*, name: str, scopes: Iterable[str]) -> tuple[ApiKey, str]:
    """Make an API key; `(row, key)`. The key is only in the answer: store it now."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationError({"name": ["1 to 100 characters."]})
    chosen = _scopes(scopes)
    while True:
        prefix = secrets.token_hex(6)
        if not ApiKey.objects.filter(prefix=prefix).exists():
            break
    key = f"rtk_{prefix}{secrets.token_urlsafe(32)}"
    row = ApiKey.objects.create(
        name=name, prefix=prefix, secret_hash=selectors.key_hash(key), scopes=chosen
    )
    return row, key


def api_key_revoke(*, key_ids: Iterable[int]) -> int:
    """Revoke keys (kept, for the record); returns how many were still live."""
    return ApiKey.objects.filter(pk__in=list(key_ids), revoked_at=None).update(
        revoked_at=timezone.now()
    )


def api_key_used(*, key_id: int) -> None:
    """Count one use of a key and stamp it (one UPDATE, no read)."""
    ApiKey.objects.filter(pk=key_id).update(
        use_count=F("use_count") + 1, last_used_at=timezone.now()
    )


# --- the server API's own writes -----------------------------------------------------------


def user_disconnect(*, user_id: int) -> None:
    """Close every socket of the user, chat and notify, on every process, with 4403."""
    user_sockets_close(user_id=user_id, code=CloseCode.FORBIDDEN)


# --- webhooks ---------------------------------------------------------------------------------


def _events(chosen: Iterable[str]) -> list[str]:
    return _choice("events", chosen, EVENTS)


def webhook_create(
    *, url: str, events: Iterable[str], active: bool = True
) -> tuple[Webhook, str]:
    """Make a webhook; `(row, secret)`. The URL must resolve to public addresses only
    (unless WEBHOOK_ALLOW_PRIVATE=1): ValidationError otherwise."""
    chosen = _events(events)
    # Resolved before the transaction: a slow name server must not hold the database's
    # write lock (SQLite's one lock is every message's too).
    addresses.check_url(url)
    secret = f"whsec_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        row = Webhook.objects.create(
            url=url, secret=secret, events=chosen, active=active
        )
        _subscriptions_changed()
    return row, secret


def webhook_update(
    *, webhook: Webhook, url: str, events: Iterable[str], active: bool
) -> Webhook:
    """Change a webhook's URL (checked as at creation), events or active flag."""
    webhook.events = _events(events)
    if url != Webhook.objects.values_list("url", flat=True).get(pk=webhook.pk):
        addresses.check_url(url)  # before the transaction, as in webhook_create
    with transaction.atomic():
        webhook.url, webhook.active = url, active
        webhook.save(update_fields=["url", "events", "active"])
        _subscriptions_changed()
    return webhook


@transaction.atomic
def webhooks_delete(*, webhook_ids: Iterable[int]) -> None:
    """Delete webhooks with their deliveries."""
    ids = list(webhook_ids)
    WebhookDelivery.objects.filter(webhook_id__in=ids).delete()
    Webhook.objects.filter(pk__in=ids).delete()
    _subscriptions_changed()


def _subscriptions_changed() -> None:
    """Drop the cached table now (this transaction reads its own change) and at commit
    (another thread may have cached the old table meanwhile)."""
    selectors.subscriptions_forget()
    transaction.on_commit(selectors.subscriptions_forget)


def webhook_events_enqueue(*, event: str, items: Sequence[dict[str, Any]]) -> int:
    """Write an outbox row per (subscribed webhook, item) in the current transaction.

    Called by the receivers of chat's signals, so a row commits (or not) with its
    event. Without a webhook subscribed to `event` it returns at once. Each item is one
    event's `data` and gets its own id. Returns how many rows were written.
    """
    hooks = selectors.webhooks_for(event=event)
    if not hooks or not items:
        return 0
    now = timezone.now()
    rows = []
    for data in items:
        event_id, body = events.event_body(event, data)
        rows.extend(
            WebhookDelivery(
                webhook_id=hook,
                event_id=event_id,
                event=event,
                body=body,
                next_attempt_at=now,
            )
            for hook in hooks
        )
    WebhookDelivery.objects.bulk_create(rows)
    from integrations.delivery import deliverer

    transaction.on_commit(deliverer.wake_threadsafe)
    return len(rows)


# --- deliveries ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery one process is about to attempt."""

    id: int
    url: str
    secret: str
    body: str
    attempts: int


@transaction.atomic
def webhook_deliveries_claim(*, limit: int) -> list[Claimed]:
    """Take up to `limit` due deliveries for this process, oldest due first.

    PostgreSQL: FOR UPDATE SKIP LOCKED, so processes claiming together take different
    rows; SQLite has one writer at a time anyway. A claimed row's next attempt moves
    past the timeout, so no other process takes it unless this one dies with it (then
    it is retried: delivery is at least once). Rows whose webhook is gone are dropped;
    rows of a deactivated webhook fail.
    """
    if limit <= 0:
        return []
    now = timezone.now()
    skip = (
        {"skip_locked": True}
        if connection.features.has_select_for_update_skip_locked
        else {}
    )
    ids = list(
        WebhookDelivery.objects.select_for_update(**skip)
        .filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    if not ids:
        return []
    rows = list(
        WebhookDelivery.objects.filter(pk__in=ids).values_list(
            "pk", "webhook_id", "body", "attempts"
        )
    )
    hooks = Webhook.objects.in_bulk({row[1] for row in rows})
    orphans: list[int] = []
    inactive: list[int] = []
    claimed: list[Claimed] = []
    for pk, hook_id, body, attempts in rows:
        hook = hooks.get(hook_id)
        if hook is None:
            orphans.append(pk)
        elif not hook.active:
            inactive.append(pk)
        else:
            claimed.append(Claimed(pk, hook.url, hook.secret, body, attempts + 1))
    WebhookDelivery.objects.filter(pk__in=orphans).delete()
    if inactive:
        WebhookDelivery.objects.filter(pk__in=inactive).update(
            status=WebhookDelivery.Status.FAILED, last_error="webhook inactive"
        )
    lease = dt.timedelta(seconds=float(settings.WEBHOOK_TIMEOUT) + CLAIM_MARGIN_SECONDS)
    WebhookDelivery.objects.filter(pk__in=[c.id for c in claimed]).update(
        attempts=F("attempts") + 1, last_attempt_at=now, next_attempt_at=now + lease
    )
    return claimed


def backoff_seconds(attempts: int) -> float:
    """The wait after a failed attempt: doubling from WEBHOOK_BACKOFF_SECONDS, capped at
    an hour, with jitter (so a receiver back from an outage is not hit all at once)."""
    base = float(settings.WEBHOOK_BACKOFF_SECONDS)
    delay = min(BACKOFF_MAX_SECONDS, base * 2 ** max(0, min(attempts - 1, 30)))
    return delay * random.uniform(0.75, 1.0)  # noqa: S311 (not a secret)


@transaction.atomic
def webhook_delivery_record(
    *, delivery_id: int, status: int | None, error: str | None
) -> None:
    """Record an attempt: delivered (a 2xx), or failed with a retry after the backoff
    (`failed` for good once the next try would be past WEBHOOK_RETRY_SECONDS)."""
    now = timezone.now()
    row = (
        WebhookDelivery.objects.filter(pk=delivery_id)
        .values_list("attempts", "created")
        .first()
    )
    if row is None:
        return
    attempts, created = row
    if error is None:
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            status=WebhookDelivery.Status.DELIVERED,
            delivered_at=now,
            last_status=status,
            last_error="",
        )
        return
    retry_at = now + dt.timedelta(seconds=backoff_seconds(attempts))
    give_up = retry_at > created + dt.timedelta(
        seconds=float(settings.WEBHOOK_RETRY_SECONDS)
    )
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        status=(
            WebhookDelivery.Status.FAILED if give_up else WebhookDelivery.Status.PENDING
        ),
        next_attempt_at=retry_at,
        last_status=status,
        last_error=error[:ERROR_MAX],
    )


def webhook_deliveries_retry(*, delivery_ids: Iterable[int]) -> int:
    """Make deliveries due now again (the admin's "retry now"), failed ones included."""
    return WebhookDelivery.objects.filter(
        pk__in=list(delivery_ids),
        status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED],
    ).update(status=WebhookDelivery.Status.PENDING, next_attempt_at=timezone.now())


def webhook_deliveries_prune() -> int:
    """Delete the delivered and failed deliveries older than KEEP_FINISHED (one DELETE)."""
    deleted, _ = WebhookDelivery.objects.filter(
        status__in=[WebhookDelivery.Status.DELIVERED, WebhookDelivery.Status.FAILED],
        created__lt=timezone.now() - KEEP_FINISHED,
    ).delete()
    return deleted
