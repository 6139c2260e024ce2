"""Reads of the integrations app: API keys by their key, webhooks by event, due rows."""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from integrations.models import ApiKey, Webhook, WebhookDelivery

#: `rtk_` + 12 hex characters (the prefix, public) + 43 URL-safe ones (256 random bits)
KEY_RE = re.compile(r"rtk_([0-9a-f]{12})[A-Za-z0-9_-]{43}")

#: seconds the webhooks-by-event table is kept in a process: a webhook made by another
#: process (the command) gets its first events at most this long after it is made
SUBSCRIPTIONS_TTL = 5.0

_lock = threading.Lock()
_subscriptions: tuple[float, dict[str, tuple[int, ...]]] | None = None


def key_hash(key: str) -> str:
    """What is stored of a key: the hex SHA-256 (the key is random, so no salt or KDF)."""
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_find(*, key: str) -> ApiKey | None:
    """The live (not revoked) API key `key` is, or None; malformed keys cost no query."""
    match = KEY_RE.fullmatch(key)
    if match is None:
        return None
    found = ApiKey.objects.filter(prefix=match.group(1), revoked_at=None).first()
    if found is None or not hmac.compare_digest(found.secret_hash, key_hash(key)):
        return None
    return found


def webhooks_for(*, event: str) -> tuple[int, ...]:
    """Ids of the active webhooks subscribed to `event` (a table cached per process).

    On the send path of every chat message: with no webhook at all this is a dict
    lookup; the one query runs once per SUBSCRIPTIONS_TTL, or after this process
    changed a webhook (subscriptions_forget).
    """
    global _subscriptions
    now = time.monotonic()
    cached = _subscriptions
    if cached is None or cached[0] <= now:
        table: dict[str, list[int]] = {}
        for pk, events in Webhook.objects.filter(active=True).values_list(
            "pk", "events"
        ):
            for event_name in events or ():
                table.setdefault(event_name, []).append(pk)
        cached = (now + SUBSCRIPTIONS_TTL, {k: tuple(v) for k, v in table.items()})
        with _lock:
            _subscriptions = cached
    return cached[1].get(event, ())


def subscriptions_forget() -> None:
    """Drop this process's table: the next event reads the webhooks again."""
    global _subscriptions
    with _lock:
        _subscriptions = None


def deliveries_due() -> bool:
    """Whether some delivery is due now (the loop's idle poll: one indexed read)."""
    return WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now()
    ).exists()


def active_user(*, username: str) -> Any | None:
    """The active user with this username, or None (the server API acts for no other)."""
    return (
        get_user_model()
        .objects.filter(username=username, is_active=True)
        .only("pk", "username")
        .first()
    )
