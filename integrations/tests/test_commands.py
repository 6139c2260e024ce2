"""`create_api_key` and `create_webhook`: the key or secret is the last line printed."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from integrations import selectors
from integrations.events import signature, signature_ok
from integrations.models import ApiKey, Webhook

pytestmark = pytest.mark.django_db


def last_line(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().rstrip("\n").splitlines()[-1]


def test_create_api_key_prints_the_key_once_as_the_last_line():
    key = last_line("create_api_key", "crm", "--scopes", "publish,disconnect")
    row = ApiKey.objects.get()
    assert selectors.api_key_find(key=key) == row
    assert row.name == "crm" and row.scopes == ["publish", "disconnect"]
    assert key not in str(list(ApiKey.objects.values()))  # only its hash is kept


def test_create_api_key_refuses_an_unknown_scope():
    with pytest.raises(CommandError, match="publish, notify, disconnect"):
        call_command("create_api_key", "crm", "--scopes", "publish,sudo")
    assert not ApiKey.objects.exists()


def test_create_webhook_prints_the_secret_as_the_last_line(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    secret = last_line(
        "create_webhook",
        "http://127.0.0.1:9/in",
        "--events",
        "message.created,room.vacated",
    )
    row = Webhook.objects.get()
    assert row.events == ["message.created", "room.vacated"]
    assert signature_ok(secret, b"{}", signature(row.secret, b"{}"))


def test_create_webhook_refuses_a_private_address_by_default(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(CommandError, match="WEBHOOK_ALLOW_PRIVATE"):
        call_command(
            "create_webhook", "http://localhost:9/", "--events", "room.occupied"
        )
    assert not Webhook.objects.exists()
