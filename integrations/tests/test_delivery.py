"""The delivery loop against a local receiver on 127.0.0.1 (WEBHOOK_ALLOW_PRIVATE=1)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async

from chat import services as chat_services
from chat.tests.conftest import chat_socket, receive, receive_until
from integrations import services
from integrations.delivery import WebhookDeliverer
from integrations.models import WebhookDelivery

pytestmark = pytest.mark.django_db(transaction=True)

DEADLINE = 10.0


@pytest.fixture(autouse=True)
def quick(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on 127.0.0.1
    settings.WEBHOOK_POLL_SECONDS = 0.02
    settings.WEBHOOK_BACKOFF_SECONDS = 0.05
    settings.WEBHOOK_TIMEOUT = 30.0


@pytest.fixture
async def loop_running() -> AsyncIterator[WebhookDeliverer]:
    """A delivery loop of this test's own (not the serving process's)."""
    part = WebhookDeliverer()
    await part.start()
    yield part
    await part.stop()


@database_sync_to_async
def make_hook(url: str, *events: str) -> str:
    return services.webhook_create(url=url, events=events or ["message.created"])[1]


@database_sync_to_async
def post(room: Any, user: Any, body: str) -> Any:
    return chat_services.message_create(room=room, user=user, body=body)[0]


@database_sync_to_async
def rows() -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.order_by("id"))


async def eventually(check: Callable[[list[WebhookDelivery]], bool]) -> list[Any]:
    """The outbox rows once `check` holds of them (fails after DEADLINE)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        found = await rows()
        if check(found):
            return found
        assert time.monotonic() < deadline, [
            (r.status, r.attempts, r.last_error) for r in found
        ]
        await asyncio.sleep(0.02)


async def test_a_delivery_is_signed_with_the_webhooks_secret(
    receiver, loop_running, lobby, alice
):
    secret = await make_hook(receiver.url)
    message = await post(lobby, alice, "hi")
    request = await receiver.next()
    expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-realtime-signature"] == f"sha256={expected}"
    assert request.headers["content-type"] == "application/json"
    assert request.path == "/hooks/in?x=1"
    body = json.loads(request.body)
    assert list(body) == ["id", "event", "ts", "data"]
    assert body["event"] == "message.created" and body["data"]["id"] == message.pk
    (row,) = await eventually(lambda r: r[0].status == "delivered")
    assert row.event_id == body["id"] and row.attempts == 1 and row.last_status == 200


async def test_a_forged_body_does_not_verify(receiver, loop_running, lobby, alice):
    secret = await make_hook(receiver.url)
    await post(lobby, alice, "hi")
    request = await receiver.next()
    tampered = request.body.replace(b'"hi"', b'"ho"')
    forged = hmac.new(secret.encode(), tampered, hashlib.sha256).hexdigest()
    assert request.headers["x-realtime-signature"] != f"sha256={forged}"


async def test_an_event_is_retried_after_a_500_with_the_same_id(
    receiver, loop_running, lobby, alice
):
    receiver.statuses = [500, 503]
    await make_hook(receiver.url)
    await post(lobby, alice, "hi")
    first, second, third = [await receiver.next() for _ in range(3)]
    assert first.body == second.body == third.body  # same bytes: same id, same ts
    assert json.loads(third.body)["id"] == json.loads(first.body)["id"]
    (row,) = await eventually(lambda r: r[0].status == "delivered")
    assert row.attempts == 3 and row.last_status == 200 and row.last_error == ""


async def test_a_private_address_is_refused_at_delivery_by_default(
    receiver, loop_running, lobby, alice, settings
):
    await make_hook(receiver.url)  # allowed when made...
    settings.WEBHOOK_ALLOW_PRIVATE = False  # ...refused at the delivery
    await post(lobby, alice, "hi")
    (row,) = await eventually(lambda r: r[0].attempts >= 1 and r[0].last_error != "")
    assert row.last_error.startswith("refused: 127.0.0.1 resolves to a refused address")
    assert row.status == "pending" and row.last_status is None
    assert receiver.requests == []  # nothing was sent


async def test_in_flight_deliveries_are_bounded(
    receiver, loop_running, lobby, alice, settings
):
    settings.WEBHOOK_MAX_IN_FLIGHT = 2
    receiver.hold = True
    await make_hook(receiver.url)
    for n in range(5):
        await post(lobby, alice, f"m{n}")
    await receiver.next()
    await receiver.next()
    receiver.release.set()
    found = await eventually(lambda r: all(x.status == "delivered" for x in r))
    assert len(found) == 5 and len(receiver.requests) == 5
    assert receiver.peak == 2


async def test_a_timeout_is_a_failed_attempt(
    receiver, loop_running, lobby, alice, settings
):
    settings.WEBHOOK_TIMEOUT = 0.2
    receiver.hold = True
    await make_hook(receiver.url)
    await post(lobby, alice, "hi")
    (row,) = await eventually(lambda r: r[0].last_error.startswith("timed out"))
    assert row.status == "pending" and row.attempts >= 1


async def test_a_slow_receiver_never_delays_a_socket(
    serving, receiver, lobby, alice, bob, settings
):
    """The serving process's own loop delivers while sockets send and receive."""
    settings.WEBHOOK_MAX_IN_FLIGHT = 3
    receiver.hold = True  # answers nothing until the test ends (timeout: 30 s)
    await make_hook(receiver.url)
    sender = await chat_socket(alice, "lobby")
    watcher = await chat_socket(bob, "lobby")
    await receive(sender)
    await receive(watcher)
    slowest = 0.0
    for n in range(10):  # more events than deliveries in flight
        started = time.monotonic()
        await sender.send_json_to({"type": "message", "body": f"m{n}"})
        for comm in (sender, watcher):
            frame, _ = await receive_until(comm, lambda f: f["type"] == "message")
            assert frame["body"] == f"m{n}"
        slowest = max(slowest, time.monotonic() - started)
        if n == 0:
            await receiver.next()  # the first event's delivery hangs in the receiver
    assert slowest < 2.0  # each round trip, against a 30 s webhook timeout
    await receiver.next()
    await receiver.next()
    assert receiver.open == 3 and len(receiver.requests) == 3  # held, and bounded
    await sender.disconnect()
    await watcher.disconnect()
