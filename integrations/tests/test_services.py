"""API keys, webhooks, and the outbox rows written with chat's events."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat import services as chat_services
from chat import signals
from chat.topics import ROUTE
from integrations import receivers, selectors, services
from integrations.models import ApiKey, Webhook, WebhookDelivery
from integrations.tests import claim_probe
from realtime.registry import services as ws_services
from tests import harness

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def allow_private(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE = True


def hook(*events: str, url: str = "http://127.0.0.1:9/in") -> Webhook:
    return services.webhook_create(url=url, events=events)[0]


def bodies(event: str | None = None) -> list[dict[str, Any]]:
    rows = WebhookDelivery.objects.order_by("id")
    if event:
        rows = rows.filter(event=event)
    return [json.loads(r.body) for r in rows]


# --- API keys -------------------------------------------------------------------------------


def test_an_api_key_is_stored_as_a_hash_only():
    row, key = services.api_key_create(name="crm", scopes=["publish", "notify"])
    stored = ApiKey.objects.get(pk=row.pk)
    assert key.startswith(f"rtk_{stored.prefix}") and len(key) == 59
    assert key not in {stored.secret_hash, stored.name, stored.prefix}
    assert stored.secret_hash == selectors.key_hash(key)
    assert stored.scopes == ["publish", "notify"]
    assert selectors.api_key_find(key=key) == stored


@pytest.mark.parametrize("scopes", [[], ["admin"], ["publish", "root"], [" "]])
def test_unknown_or_no_scopes_are_refused(scopes):
    with pytest.raises(ValidationError):
        services.api_key_create(name="crm", scopes=scopes)


def test_a_wrong_or_revoked_key_finds_nothing():
    row, key = services.api_key_create(name="crm", scopes=["publish"])
    # Same prefix, another secret: the hash comparison refuses it.
    forged = key[:16] + ("A" if key[16] != "A" else "B") + key[17:]
    assert selectors.api_key_find(key=forged) is None
    assert selectors.api_key_find(key="rtk_short") is None
    services.api_key_revoke(key_ids=[row.pk])
    assert selectors.api_key_find(key=key) is None


def test_use_is_counted_and_stamped():
    row, _ = services.api_key_create(name="crm", scopes=["publish"])
    services.api_key_used(key_id=row.pk)
    services.api_key_used(key_id=row.pk)
    row.refresh_from_db()
    assert row.use_count == 2 and row.last_used_at is not None


# --- webhooks and their events ------------------------------------------------------------


def test_a_webhook_secret_is_random_and_events_are_checked():
    _, one = services.webhook_create(
        url="http://127.0.0.1:9/", events=["room.occupied"]
    )
    _, two = services.webhook_create(
        url="http://127.0.0.1:9/", events=["room.occupied"]
    )
    assert one != two and one.startswith("whsec_") and len(one) > 40
    with pytest.raises(ValidationError):
        services.webhook_create(url="http://127.0.0.1:9/", events=["message.deleted"])


def test_a_private_url_is_refused_at_creation_by_default(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(ValidationError):
        services.webhook_create(url="http://127.0.0.1:9/", events=["room.occupied"])
    assert not Webhook.objects.exists()


def test_message_created_is_an_outbox_row_per_webhook_with_the_message(lobby, alice):
    first, second = hook("message.created"), hook("message.created")
    hook("member.added")  # not subscribed to messages
    message, _ = chat_services.message_create(room=lobby, user=alice, body="hi")
    rows = list(WebhookDelivery.objects.order_by("webhook_id"))
    assert [r.webhook_id for r in rows] == [first.pk, second.pk]
    assert rows[0].event_id == rows[1].event_id  # one event, one id, for everyone
    body = json.loads(rows[0].body)
    assert list(body) == ["id", "event", "ts", "data"]
    assert body["id"] == rows[0].event_id and body["event"] == "message.created"
    assert body["data"] == {
        "id": message.pk,
        "seq": 1,
        "room": "lobby",
        "user": {"id": alice.pk, "username": "alice"},
        "body": "hi",
        "ts": body["data"]["ts"],
        "client_id": None,
        "rev": 0,
        "edited": None,
        "deleted": False,
        "reactions": [],
        "reply_to": None,
    }


def test_the_outbox_row_commits_and_rolls_back_with_the_message(lobby, alice):
    hook("message.created")
    with pytest.raises(RuntimeError), transaction.atomic():
        chat_services.message_create(room=lobby, user=alice, body="never")
        assert WebhookDelivery.objects.count() == 1
        raise RuntimeError
    assert WebhookDelivery.objects.count() == 0
    assert not lobby.messages.exists()


def test_a_resend_is_no_new_event(lobby, alice):
    hook("message.created")
    chat_services.message_create(room=lobby, user=alice, body="x", client_id="c1")
    chat_services.message_create(room=lobby, user=alice, body="x", client_id="c1")
    assert WebhookDelivery.objects.count() == 1


def test_without_webhooks_the_send_path_runs_no_extra_query(lobby, alice):
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            chat_services.message_create(room=lobby, user=alice, body="x")
        return len(ctx.captured_queries)

    selectors.webhooks_for(event="message.created")  # the cached table, read once
    with_receiver = queries()
    signals.messages_stored.disconnect(dispatch_uid="integrations.messages")
    try:
        without_receiver = queries()
    finally:
        signals.messages_stored.connect(
            receivers.on_messages_stored, dispatch_uid="integrations.messages"
        )
    assert with_receiver == without_receiver
    assert not WebhookDelivery.objects.exists()


def test_member_added_and_removed(lobby, alice, bob):
    hook("member.added", "member.removed")
    chat_services.membership_grant(room=lobby, user=bob)
    chat_services.membership_grant(room=lobby, user=bob)  # already on: no event
    chat_services.membership_revoke(room=lobby, user=bob)
    chat_services.membership_revoke(room=lobby, user=bob)  # not on: no event
    user = {"id": bob.pk, "username": "bob"}
    assert [(b["event"], b["data"]) for b in bodies()] == [
        ("member.added", {"room": "lobby", "user": user}),
        ("member.removed", {"room": "lobby", "user": user}),
    ]


def test_a_new_rooms_owner_is_a_member_added(alice):
    hook("member.added")
    chat_services.room_create(slug="den", owner=alice)
    assert [b["data"]["room"] for b in bodies("member.added")] == ["den"]


def _socket(conn_id: str, user: Any) -> None:
    ws_services.connection_open(
        connection_id=conn_id,
        process_id="proc-a",
        user_id=user.pk,
        route=ROUTE,
        room_key="lobby",
        max_per_user=0,
        lease_seconds=30,
    )


def test_room_occupied_at_the_first_user_and_vacated_at_the_last(
    lobby, alice, bob, monkeypatch
):
    monkeypatch.setattr(
        "chat.presence_batcher.batcher.mark_threadsafe", lambda keys: None
    )
    hook("room.occupied", "room.vacated")
    _socket("a1", alice)
    chat_services.presence_flush(room_keys=["lobby"], interval=0)
    _socket("b1", bob)  # a second user: still occupied, no event
    chat_services.presence_flush(room_keys=["lobby"], interval=0)
    ws_services.connection_close(connection_id="a1")
    chat_services.presence_flush(room_keys=["lobby"], interval=0)
    assert [b["event"] for b in bodies()] == ["room.occupied"]
    ws_services.connection_close(connection_id="b1")
    chat_services.presence_flush(room_keys=["lobby"], interval=0)
    assert [(b["event"], b["data"]) for b in bodies()] == [
        ("room.occupied", {"room": "lobby"}),
        ("room.vacated", {"room": "lobby"}),
    ]


def test_an_inactive_webhook_gets_no_events(lobby, alice):
    row = hook("message.created")
    services.webhook_update(webhook=row, url=row.url, events=row.events, active=False)
    chat_services.message_create(room=lobby, user=alice, body="x")
    assert not WebhookDelivery.objects.exists()


# --- claims and records ------------------------------------------------------------------


def test_a_claim_takes_due_rows_once_and_moves_them_past_the_timeout(lobby, alice):
    hook("message.created")
    for n in range(3):
        chat_services.message_create(room=lobby, user=alice, body=f"m{n}")
    first = services.webhook_deliveries_claim(limit=2)
    assert len(first) == 2 and all(c.attempts == 1 for c in first)
    second = services.webhook_deliveries_claim(limit=5)
    assert len(second) == 1 and second[0].id not in {c.id for c in first}
    assert services.webhook_deliveries_claim(limit=5) == []


def test_a_failure_is_retried_with_a_growing_backoff(lobby, alice, settings):
    settings.WEBHOOK_BACKOFF_SECONDS = 10
    hook("message.created")
    chat_services.message_create(room=lobby, user=alice, body="x")
    waits = []
    for _ in range(3):
        (claimed,) = services.webhook_deliveries_claim(limit=1)
        before = timezone.now()
        services.webhook_delivery_record(
            delivery_id=claimed.id, status=500, error="HTTP 500"
        )
        row = WebhookDelivery.objects.get(pk=claimed.id)
        assert row.status == "pending" and row.last_error == "HTTP 500"
        waits.append((row.next_attempt_at - before).total_seconds())
        WebhookDelivery.objects.filter(pk=row.pk).update(next_attempt_at=before)
    assert 7 <= waits[0] <= 10 and 15 <= waits[1] <= 20 and 30 <= waits[2] <= 40
    assert WebhookDelivery.objects.get().attempts == 3


def test_a_delivery_older_than_the_retry_period_fails_for_good(lobby, alice, settings):
    hook("message.created")
    chat_services.message_create(room=lobby, user=alice, body="x")
    WebhookDelivery.objects.update(created=timezone.now() - dt.timedelta(days=1))
    (claimed,) = services.webhook_deliveries_claim(limit=1)
    services.webhook_delivery_record(delivery_id=claimed.id, status=None, error="boom")
    assert WebhookDelivery.objects.get().status == "failed"
    assert services.webhook_deliveries_claim(limit=1) == []


def test_a_deleted_webhooks_rows_are_dropped_and_an_inactive_ones_fail(lobby, alice):
    gone, off = hook("message.created"), hook("message.created")
    chat_services.message_create(room=lobby, user=alice, body="x")
    Webhook.objects.filter(pk=gone.pk).delete()  # as a race with another process would
    Webhook.objects.filter(pk=off.pk).update(active=False)
    assert services.webhook_deliveries_claim(limit=5) == []
    assert list(WebhookDelivery.objects.values_list("webhook_id", "status")) == [
        (off.pk, "failed")
    ]


# --- cluster mode: several processes claim together ---------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_take_different_rows_on_sqlite():
    result = claim_probe.run(hold=0.3)  # SQLite: B waits for A's commit (one writer)
    assert result["vendor"] == "sqlite" and result["errors"] == []
    assert len(result["a"]) == 2 and len(result["b"]) == claim_probe.ROWS - 2
    assert not set(result["a"]) & set(result["b"])


def test_concurrent_claims_skip_each_others_rows_on_postgresql(pg_database):
    env = harness.base_env(DATABASE_URL=pg_database)
    harness.manage(env, "migrate", "--noinput", "-v0")
    result = harness.run_probe(claim_probe.__file__, env, timeout=120)
    assert result["vendor"] == "postgresql" and result["errors"] == []
    assert len(result["a"]) == 2 and len(result["b"]) == claim_probe.ROWS - 2
    assert not set(result["a"]) & set(result["b"])
    # SKIP LOCKED: B took the other rows while A's claim was still uncommitted.
    assert result["b_before_a_committed"] is True


def test_keys_and_secrets_never_reach_a_log_line():
    from realtime.web.logs import redact

    row, key = services.api_key_create(name="crm", scopes=["publish"])
    _, secret = services.webhook_create(
        url="http://127.0.0.1:9/", events=["room.vacated"]
    )
    line = redact(f"Authorization: Api-Key {key}; bare {key}; secret {secret}")
    assert key not in line and secret not in line
    assert row.prefix in line  # the public part still names the key


def test_finished_deliveries_are_pruned_after_a_week_pending_ones_never(lobby, alice):
    hook("message.created")
    for n in range(3):
        chat_services.message_create(room=lobby, user=alice, body=f"m{n}")
    old = timezone.now() - dt.timedelta(days=8)
    first, second, third = WebhookDelivery.objects.order_by("id")
    WebhookDelivery.objects.filter(pk=first.pk).update(status="delivered", created=old)
    WebhookDelivery.objects.filter(pk=second.pk).update(status="pending", created=old)
    WebhookDelivery.objects.filter(pk=third.pk).update(status="failed")
    assert services.webhook_deliveries_prune() == 1
    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {
        second.pk,
        third.pk,
    }


def test_an_edit_is_a_message_updated_event_with_the_current_state(lobby, alice):
    hook("message.updated")
    message, _ = chat_services.message_create(room=lobby, user=alice, body="helo")
    assert not WebhookDelivery.objects.exists()  # not subscribed to message.created
    chat_services.message_edit(message=message, user=alice, body="hello")
    [row] = WebhookDelivery.objects.all()
    body = json.loads(row.body)
    assert body["event"] == "message.updated"
    assert body["data"]["body"] == "hello" and body["data"]["rev"] == 1
    assert "type" not in body["data"]
