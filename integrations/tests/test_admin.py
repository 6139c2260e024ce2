"""The admin: API keys with their usage and the revoke action, webhooks, attempts."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from chat import services as chat_services
from integrations import services
from integrations.models import ApiKey, Webhook, WebhookDelivery

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def root() -> Client:
    return client_for(
        get_user_model().objects.create_superuser(
            username="root", password="pw-root-123"
        )
    )


@pytest.fixture
def viewer() -> Client:
    """Staff who may view API keys but hold no revoke permission."""
    user = get_user_model().objects.create_user(
        username="viewer", password="pw-viewer-123", is_staff=True
    )
    user.user_permissions.add(Permission.objects.get(codename="view_apikey"))
    return client_for(user)


def test_the_key_list_shows_usage_and_never_the_key(root):
    row, key = services.api_key_create(name="crm", scopes=["publish"])
    services.api_key_used(key_id=row.pk)
    page = root.get("/admin/integrations/apikey/")
    assert page.status_code == 200
    html = page.content.decode()
    assert row.prefix in html and key not in html and row.secret_hash not in html
    assert page.context["cl"].result_list.get().use_count == 1


def test_revoking_takes_the_revoke_permission(root, viewer):
    row, _ = services.api_key_create(name="crm", scopes=["publish"])
    action = {"action": "revoke", "_selected_action": [row.pk]}
    viewer.post("/admin/integrations/apikey/", action)
    assert ApiKey.objects.get().revoked_at is None
    root.post("/admin/integrations/apikey/", action)
    assert ApiKey.objects.get().revoked_at is not None


def test_a_webhook_made_in_the_admin_shows_its_secret_once(root, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    page = root.post(
        "/admin/integrations/webhook/add/",
        {"url": "http://127.0.0.1:9/in", "events": ["member.added"], "active": "on"},
    )
    row = Webhook.objects.get()
    assert page.status_code == 200 and row.secret in page.content.decode()
    again = root.get(f"/admin/integrations/webhook/{row.pk}/change/")
    assert row.secret not in again.content.decode()


def test_the_admin_refuses_a_private_url_by_default(root, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    page = root.post(
        "/admin/integrations/webhook/add/",
        {"url": "http://169.254.169.254/", "events": ["member.added"]},
    )
    assert page.status_code == 200 and "WEBHOOK_ALLOW_PRIVATE" in page.content.decode()
    assert not Webhook.objects.exists()


def test_attempts_are_listed_and_can_be_retried(root, lobby, alice, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    services.webhook_create(url="http://127.0.0.1:9/", events=["message.created"])
    chat_services.message_create(room=lobby, user=alice, body="x")
    (claimed,) = services.webhook_deliveries_claim(limit=1)
    services.webhook_delivery_record(
        delivery_id=claimed.id, status=500, error="HTTP 500"
    )
    page = root.get("/admin/integrations/webhookdelivery/")
    assert page.status_code == 200 and "HTTP 500" in page.content.decode()
    root.post(
        "/admin/integrations/webhookdelivery/",
        {"action": "retry_now", "_selected_action": [claimed.id]},
    )
    assert services.webhook_deliveries_claim(limit=1)[0].id == claimed.id
    assert WebhookDelivery.objects.get().attempts == 2
