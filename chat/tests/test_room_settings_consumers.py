"""Room settings on a live socket: the `room` frame, and an archived room's refusals."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async

from chat import services
from chat.models import Message, Room
from chat.tests.conftest import chat_socket, receive, receive_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("serving"),
]


def is_room(frame: dict[str, Any]) -> bool:
    return frame["type"] == "room"


def update(room: Room, **changes: Any) -> Room:
    return services.room_update(room=Room.objects.get(pk=room.pk), **changes)


async def test_a_settings_change_reaches_every_socket_in_the_room(lobby, alice, bob):
    owner, other = await chat_socket(alice, "lobby"), await chat_socket(bob, "lobby")
    for comm in (owner, other):
        assert (await receive(comm))["type"] == "welcome"
    await database_sync_to_async(update)(lobby, name="Hall", topic="Plans")
    for comm in (owner, other):
        frame, _ = await receive_until(comm, is_room)
        assert frame["room"] == {
            "slug": "lobby",
            "name": "Hall",
            "topic": "Plans",
            "kind": "public",
            "archived": None,
        }
    await database_sync_to_async(update)(lobby, archived=True)
    frame, _ = await receive_until(other, is_room)
    assert frame["room"]["archived"].endswith("Z")
    await owner.disconnect()
    await other.disconnect()


async def test_a_message_to_an_archived_room_is_an_error_and_the_socket_stays(
    lobby, alice
):
    await database_sync_to_async(update)(lobby, archived=True)
    comm = await chat_socket(alice, "lobby")
    assert (await receive(comm))["type"] == "welcome"
    await comm.send_json_to({"type": "message", "body": "hi", "client_id": "c1"})
    error, _ = await receive_until(comm, lambda f: f["type"] == "error")
    assert error["code"] == "forbidden" and error["client_id"] == "c1"
    assert "archived" in error["detail"]
    # Still open, still answering: and unarchived, the same socket posts again.
    await comm.send_json_to({"type": "heartbeat"})
    assert (await receive_until(comm, lambda f: f["type"] == "heartbeat"))[0]
    await database_sync_to_async(update)(lobby, archived=False)
    await receive_until(comm, is_room)
    await comm.send_json_to({"type": "message", "body": "back", "client_id": "c2"})
    message, _ = await receive_until(comm, lambda f: f["type"] == "message")
    assert message["body"] == "back" and message["seq"] == 1
    assert await database_sync_to_async(Message.objects.count)() == 1
    await comm.disconnect()


async def test_archived_refusals_do_not_close_the_socket_as_invalid_frames(
    lobby, alice, settings
):
    settings.WS_MAX_INVALID_FRAMES = 2
    await database_sync_to_async(update)(lobby, archived=True)
    comm = await chat_socket(alice, "lobby")
    assert (await receive(comm))["type"] == "welcome"
    for n in range(4):
        await comm.send_json_to({"type": "message", "body": f"m{n}"})
        error, _ = await receive_until(comm, lambda f: f["type"] == "error")
        assert error["code"] == "forbidden"
    await comm.send_json_to({"type": "heartbeat"})
    assert (await receive_until(comm, lambda f: f["type"] == "heartbeat"))[0]
    await comm.disconnect()


async def test_an_edit_in_an_archived_room_is_a_forbidden_error_and_the_socket_stays(
    lobby, alice
):
    message = await database_sync_to_async(post_one)(lobby, alice)
    await database_sync_to_async(update)(lobby, archived=True)
    comm = await chat_socket(alice, "lobby")
    assert (await receive(comm))["type"] == "welcome"
    await comm.send_json_to({"type": "edit", "id": message.pk, "body": "changed"})
    error, _ = await receive_until(comm, lambda f: f["type"] == "error")
    assert error["code"] == "forbidden"
    await comm.send_json_to({"type": "heartbeat"})
    assert (await receive_until(comm, lambda f: f["type"] == "heartbeat"))[0]
    await comm.disconnect()


def post_one(room: Room, user: Any) -> Message:
    message, _ = services.message_create(room=room, user=user, body="hi")
    return message
