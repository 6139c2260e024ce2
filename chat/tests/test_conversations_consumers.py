"""Conversations on the sockets: the `read` frame, activity and the notify welcome's rooms."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from chat import services
from chat.tests.conftest import DEADLINE, chat_socket, receive, receive_until, token_for
from notifications import services as notify_services

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("serving"),
]


async def notify_socket(user: Any) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    """A connected notify socket of `user` and its welcome."""
    from realtime.asgi import application

    comm = WebsocketCommunicator(
        application, f"/ws/notify/user/{user.pk}/?token={token_for(user)}"
    )
    connected, _ = await comm.connect(timeout=DEADLINE)
    assert connected
    welcome = await receive(comm)
    assert welcome["type"] == "welcome"
    return comm, welcome


def of_type(kind: str) -> Any:
    return lambda frame: frame["type"] == kind


async def test_a_read_frame_moves_the_pointer_and_reaches_every_socket_of_the_user(
    lobby, alice, bob
):
    for _ in range(3):
        await database_sync_to_async(services.message_create)(
            room=lobby, user=alice, body="x"
        )
    chat = await chat_socket(bob, "lobby")
    notify, _ = await notify_socket(bob)
    await chat.send_json_to({"type": "read", "seq": 2})
    expected = {"type": "read", "room": "lobby", "seq": 2, "unread": 1}
    assert (await receive_until(chat, of_type("read")))[0] == expected
    assert (await receive_until(notify, of_type("read")))[0] == expected
    await chat.disconnect()
    await notify.disconnect()


async def test_a_malformed_read_frame_is_an_error_and_the_socket_stays_open(lobby, bob):
    chat = await chat_socket(bob, "lobby")
    await chat.send_json_to({"type": "read", "seq": "2"})
    error, _ = await receive_until(chat, of_type("error"))
    assert error["code"] == "invalid"
    await chat.send_json_to({"type": "read", "seq": 0})  # no move: nothing comes back
    await chat.send_json_to({"type": "message", "body": "still here"})
    message, skipped = await receive_until(chat, of_type("message"))
    assert message["body"] == "still here"
    assert not [f for f in skipped if f["type"] == "read"]
    await chat.disconnect()


async def test_sending_moves_the_senders_pointer_on_their_sockets(lobby, alice):
    chat = await chat_socket(alice, "lobby")
    await chat.send_json_to({"type": "message", "body": "hello"})
    frame, _ = await receive_until(chat, of_type("read"))
    assert frame == {"type": "read", "room": "lobby", "seq": 1, "unread": 0}
    await chat.disconnect()


async def test_activity_reaches_the_notify_sockets_of_members_only(
    lobby, alice, bob, carol
):
    await database_sync_to_async(services.room_join)(room=lobby, user=bob)
    bob_notify, _ = await notify_socket(bob)
    carol_notify, _ = await notify_socket(carol)
    chat = await chat_socket(alice, "lobby")
    await chat.send_json_to({"type": "message", "body": "news for @bob " + "y" * 200})
    frame, before = await receive_until(bob_notify, of_type("activity"))
    assert frame["room"] == "lobby" and frame["seq"] == 1
    assert frame["user"] == {"id": alice.pk, "username": "alice"}
    assert frame["preview"].startswith("news for @bob") and len(frame["preview"]) <= 140
    # the mention's notification, stored in the same commit, may come first
    (mention,) = [f for f in before if f["type"] == "notification"] or [
        (await receive_until(bob_notify, of_type("notification")))[0]
    ]
    assert mention["link"] == "/rooms/lobby/?seq=1"
    # carol does not belong: the first frame she gets is one sent to her after it
    await database_sync_to_async(notify_services.notification_create)(
        user_id=carol.pk, title="marker"
    )
    first = await receive(carol_notify)
    assert first["type"] == "notification" and first["title"] == "marker"
    for comm in (chat, bob_notify, carol_notify):
        await comm.disconnect()


async def test_the_notify_welcome_lists_my_rooms_with_their_counts(lobby, alice, bob):
    await database_sync_to_async(services.room_join)(room=lobby, user=bob)
    dm, _ = await database_sync_to_async(services.direct_room_get_or_create)(
        user=alice, other=bob
    )
    await database_sync_to_async(services.message_create)(
        room=dm, user=alice, body="psst @bob"
    )
    notify, welcome = await notify_socket(bob)
    rooms = welcome["rooms"]
    assert [r["slug"] for r in rooms] == [dm.slug, "lobby"]
    assert rooms[0]["peer"] == {"id": alice.pk, "username": "alice"}
    assert (rooms[0]["unread"], rooms[0]["mentions"]) == (1, 1)
    assert rooms[0]["last_message"]["body"] == "psst @bob"
    await notify.disconnect()


# --- following rooms' activity as belonging changes (issue 15) --------------------------


async def marker(comm: WebsocketCommunicator, user: Any) -> list[dict[str, Any]]:
    """A notification sent to `user` now, and the frames their socket got before it.

    Published after whatever the test did before, on the same notify topic: once it is
    in, every order before it (FOLLOW, UNFOLLOW) was carried out.
    """
    await database_sync_to_async(notify_services.notification_create)(
        user_id=user.pk, title="marker"
    )
    _, before = await receive_until(
        comm, lambda f: f["type"] == "notification" and f["title"] == "marker"
    )
    return before


async def test_a_notify_socket_follows_a_room_its_user_joins_after_it_opened(
    lobby, alice, bob
):
    notify, _ = await notify_socket(bob)
    await database_sync_to_async(services.room_join)(room=lobby, user=bob)
    await marker(notify, bob)
    await database_sync_to_async(services.message_create)(
        room=lobby, user=alice, body="welcome aboard"
    )
    frame, _ = await receive_until(notify, of_type("activity"))
    assert (frame["room"], frame["preview"]) == ("lobby", "welcome aboard")
    await notify.disconnect()


async def test_a_revoked_user_gets_no_more_activity_of_the_private_room(
    secret, alice, bob
):
    await database_sync_to_async(services.membership_grant)(room=secret, user=bob)
    notify, _ = await notify_socket(bob)
    post = database_sync_to_async(services.message_create)
    await post(room=secret, user=alice, body="before")
    frame, _ = await receive_until(notify, of_type("activity"))
    assert frame["preview"] == "before"
    await database_sync_to_async(services.membership_revoke)(room=secret, user=bob)
    await post(room=secret, user=alice, body="after the revoke")
    assert [f for f in await marker(notify, bob) if f["type"] == "activity"] == []
    await notify.disconnect()


async def test_a_left_or_deleted_room_is_no_longer_held_by_the_notify_socket(
    lobby, secret, alice, bob
):
    from chat.topics import chat_activity_topic
    from realtime.fanout.hub import hub

    await database_sync_to_async(services.room_join)(room=lobby, user=bob)
    await database_sync_to_async(services.membership_grant)(room=secret, user=bob)
    notify, _ = await notify_socket(bob)
    lobby_topic, secret_topic = (
        chat_activity_topic(lobby.pk),
        chat_activity_topic(secret.pk),
    )
    assert len(hub.local_subscribers(lobby_topic)) == 1
    assert len(hub.local_subscribers(secret_topic)) == 1
    await database_sync_to_async(services.room_leave)(room=lobby, user=bob)
    await marker(notify, bob)
    assert hub.local_subscribers(lobby_topic) == ()
    # alice's notify socket and bob's hold the private room until it is deleted
    alice_notify, _ = await notify_socket(alice)
    assert len(hub.local_subscribers(secret_topic)) == 2
    await database_sync_to_async(services.room_delete)(room=secret)
    await marker(notify, bob)
    await marker(alice_notify, alice)
    assert hub.local_subscribers(secret_topic) == ()
    await alice_notify.disconnect()
    await notify.disconnect()


async def test_a_notify_socket_holds_at_most_the_cap_of_activity_topics(
    lobby, secret, bob, monkeypatch
):
    from chat.topics import chat_activity_topic
    from notifications import consumers
    from realtime.fanout.hub import hub

    monkeypatch.setattr(consumers, "ACTIVITY_ROOMS_MAX", 1)
    await database_sync_to_async(services.room_join)(room=lobby, user=bob)
    await database_sync_to_async(services.membership_grant)(room=secret, user=bob)
    notify, welcome = await notify_socket(bob)
    # the newest room (highest id) only; the welcome still lists both
    assert hub.local_subscribers(chat_activity_topic(lobby.pk)) == ()
    assert len(hub.local_subscribers(chat_activity_topic(secret.pk))) == 1
    assert {r["slug"] for r in welcome["rooms"]} == {"lobby", "secret"}
    await notify.disconnect()
    assert hub.local_subscribers(chat_activity_topic(secret.pk)) == ()
