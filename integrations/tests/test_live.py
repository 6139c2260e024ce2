"""The server API against live sockets, in process: the serving lifecycle on this loop."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from rest_framework.test import APIClient

from chat.tests.conftest import chat_socket, closed_with, receive, receive_until
from integrations import services
from notifications.tests import support

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("serving"),
]


@database_sync_to_async
def server_call(path: str, body: dict[str, Any], *scopes: str) -> Any:
    key = services.api_key_create(name="backend", scopes=scopes)[1]
    return APIClient().post(
        path, body, format="json", HTTP_AUTHORIZATION=f"Api-Key {key}"
    )


async def test_a_published_message_reaches_the_rooms_sockets(lobby, alice, bob):
    watcher = await chat_socket(bob, "lobby")
    await receive(watcher)
    response = await server_call(
        "/api/server/publish/",
        {"room": "lobby", "body": "from the CRM", "username": "alice"},
        "publish",
    )
    assert response.status_code == 201
    frame, _ = await receive_until(watcher, lambda f: f["type"] == "message")
    assert frame == response.json()
    system = await server_call(
        "/api/server/publish/", {"room": "lobby", "body": "maintenance"}, "publish"
    )
    frame, _ = await receive_until(watcher, lambda f: f["type"] == "system")
    assert frame["body"] == "maintenance" and frame["ts"] == system.json()["ts"]
    await watcher.disconnect()


async def test_disconnect_closes_chat_and_notify_sockets_with_4403(lobby, alice, bob):
    chat = await chat_socket(alice, "lobby")
    await receive(chat)
    sockets = support.Sockets()
    notify, _ = await sockets.notify(alice)
    bystander = await chat_socket(bob, "lobby")
    await receive(bystander)
    response = await server_call(
        "/api/server/disconnect/", {"username": "alice"}, "disconnect"
    )
    assert response.status_code == 204
    assert await closed_with(chat) == 4403
    assert await support.closed_with(notify) == 4403
    # bob's socket is untouched: it still answers
    await bystander.send_json_to({"type": "heartbeat"})
    await receive_until(bystander, lambda f: f["type"] == "heartbeat")
    await bystander.disconnect()
    await sockets.close_all()


async def test_notify_reaches_the_users_notify_socket(alice):
    sockets = support.Sockets()
    notify, _ = await sockets.notify(alice)
    response = await server_call(
        "/api/server/notify/",
        {"usernames": ["alice"], "title": "Invoice paid"},
        "notify",
    )
    assert response.status_code == 201
    frame = await support.next_frame(notify, "notification")
    assert frame["title"] == "Invoice paid"
    await sockets.close_all()
