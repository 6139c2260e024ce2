"""Typing on the chat socket, through realtime.asgi.application (WebsocketCommunicator)."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async

from chat.models import Message
from chat.tests.conftest import chat_socket, receive, receive_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("serving"),
]


def is_typing(frame: dict[str, Any]) -> bool:
    return frame["type"] == "typing"


def ids(frame: dict[str, Any]) -> list[int]:
    return [u["id"] for u in frame["users"]]


async def test_a_typist_is_listed_to_the_room_and_dropped_when_their_message_arrives(
    lobby, alice, bob
):
    typist, watcher = await chat_socket(alice, "lobby"), await chat_socket(bob, "lobby")
    await receive(typist), await receive(watcher)
    await typist.send_json_to({"type": "typing"})
    frame, _ = await receive_until(watcher, is_typing)
    assert frame == {"type": "typing", "users": [{"id": alice.pk, "username": "alice"}]}
    mine, _ = await receive_until(typist, is_typing)
    assert ids(mine) == [
        alice.pk
    ]  # the typist's own socket too: clients hide themselves
    assert await database_sync_to_async(Message.objects.count)() == 0  # never stored
    await typist.send_json_to({"type": "message", "body": "done typing"})
    frame, before = await receive_until(watcher, is_typing)
    assert [f["type"] for f in before if f["type"] == "message"] == ["message"]
    assert frame["users"] == []
    await typist.disconnect()
    await watcher.disconnect()


async def test_a_socket_opening_while_someone_types_is_told_after_its_welcome(
    lobby, alice, bob
):
    typist = await chat_socket(alice, "lobby")
    await receive(typist)
    await typist.send_json_to({"type": "typing"})
    await receive_until(typist, is_typing)
    late = await chat_socket(bob, "lobby")
    assert (await receive(late))["type"] == "welcome"
    frame, _ = await receive_until(late, is_typing)
    assert ids(frame) == [alice.pk]
    await typist.disconnect()
    await late.disconnect()


async def test_typing_frames_take_the_sockets_rate_bucket(lobby, alice, settings):
    settings.WS_MESSAGE_RATE = 1
    settings.WS_MESSAGE_BURST = 3
    comm = await chat_socket(alice, "lobby")
    await receive(comm)
    for _ in range(6):
        await comm.send_json_to({"type": "typing"})
    frame, _ = await receive_until(
        comm, lambda f: f["type"] == "error" and f["code"] == "rate_limited"
    )
    assert frame["detail"]
    await comm.disconnect()


async def test_a_typing_frame_with_a_field_is_invalid_and_lists_no_one(
    lobby, alice, bob
):
    comm = await chat_socket(alice, "lobby")
    await receive(comm)
    await comm.send_json_to({"type": "typing", "room": "elsewhere"})
    frame = await receive(comm)
    assert frame["type"] == "error" and frame["code"] == "invalid"
    await comm.send_json_to({"type": "heartbeat"})
    assert (await receive(comm))["type"] == "heartbeat"  # and no typing frame before it
    await comm.disconnect()
