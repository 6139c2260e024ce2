"""The chat socket through realtime.asgi.application, with WebsocketCommunicator."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import transaction

from chat import services
from chat.models import Message
from chat.presence_batcher import batcher
from chat.tests.conftest import chat_socket, closed_with, receive, receive_until
from chat.topics import ROUTE, chat_room_group
from realtime.fanout import broadcast
from realtime.fanout.topics import user_topic

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("serving"),
]


@pytest.fixture(autouse=True)
def fast_presence(settings: Any) -> None:
    settings.WS_PRESENCE_INTERVAL = 0.2


def is_presence(frame: dict[str, Any]) -> bool:
    return frame["type"] == "presence"


def is_message(frame: dict[str, Any]) -> bool:
    return frame["type"] == "message"


def post_many(room: Any, user: Any, count: int) -> None:
    for n in range(count):
        services.message_create(room=room, user=user, body=f"m{n + 1}")


# --- handshake and authorization ---------------------------------------------------------------


async def test_welcome_frame_is_exactly_the_protocols(lobby, alice):
    await database_sync_to_async(post_many)(lobby, alice, 2)
    comm = await chat_socket(alice, "lobby")
    welcome = await receive(comm)
    assert list(welcome) == [
        "type",
        "room",
        "user",
        "connection_id",
        "heartbeat_interval",
        "online",
        "online_count",
        "history",
        "complete",
        "rev",
        "changes",
    ]
    assert welcome["type"] == "welcome" and welcome["room"] == "lobby"
    assert welcome["user"] == {"id": alice.pk, "username": "alice"}
    assert isinstance(welcome["connection_id"], str) and welcome["connection_id"]
    assert welcome["heartbeat_interval"] == 25
    assert welcome["online"] == [{"id": alice.pk, "username": "alice"}]
    assert welcome["online_count"] == 1
    assert [m["seq"] for m in welcome["history"]] == [1, 2]
    assert welcome["history"][0]["user"] == {"id": alice.pk, "username": "alice"}
    assert welcome["complete"] is True
    await comm.disconnect()


async def test_unknown_room_is_closed_with_4404(alice):
    comm = await chat_socket(alice, "no-such-room")
    assert await closed_with(comm) == 4404


async def test_odd_room_path_is_closed_with_4404_not_a_routing_error(alice):
    comm = await chat_socket(alice, "Not%20A%20Slug")
    assert await closed_with(comm) == 4404


async def test_private_room_closes_a_user_not_whitelisted_with_4403(secret, bob):
    comm = await chat_socket(bob, "secret")
    assert await closed_with(comm) == 4403


async def test_private_room_admits_its_whitelist(secret, bob):
    await database_sync_to_async(services.membership_grant)(room=secret, user=bob)
    comm = await chat_socket(bob, "secret")
    assert (await receive(comm))["type"] == "welcome"
    await comm.disconnect()


async def test_socket_without_credentials_is_refused_before_accept(lobby):
    from realtime.asgi import application

    comm = WebsocketCommunicator(application, "/ws/chat/lobby/")
    connected, code = await comm.connect(timeout=10)
    assert not connected


# --- history ---------------------------------------------------------------------------------


async def test_welcome_history_holds_the_last_50_messages(lobby, alice):
    await database_sync_to_async(post_many)(lobby, alice, 60)
    comm = await chat_socket(alice, "lobby")
    welcome = await receive(comm)
    assert [m["seq"] for m in welcome["history"]] == list(range(11, 61))
    assert welcome["complete"] is True  # the newest 50: nothing newer is missing
    await comm.disconnect()


async def test_since_gives_every_message_after_that_seq_and_complete(lobby, alice):
    await database_sync_to_async(post_many)(lobby, alice, 60)
    comm = await chat_socket(alice, "lobby", "since=5")
    welcome = await receive(comm)
    assert [m["seq"] for m in welcome["history"]] == list(range(6, 61))
    assert welcome["complete"] is True
    await comm.disconnect()


async def test_since_beyond_500_messages_is_marked_incomplete(lobby, alice):
    await database_sync_to_async(post_many)(lobby, alice, 503)
    comm = await chat_socket(alice, "lobby", "since=1")
    welcome = await receive(comm)
    assert [m["seq"] for m in welcome["history"]] == list(range(2, 502))
    assert welcome["complete"] is False  # 502 and 503 are paged over REST
    await comm.disconnect()


@pytest.mark.parametrize("since", ["abc", "-1", "\u00b2", "1" * 30, "1.5", "+3"])
async def test_a_malformed_since_is_refused_with_an_error_frame_after_the_welcome(
    lobby, alice, since
):
    await database_sync_to_async(post_many)(lobby, alice, 2)
    comm = await chat_socket(alice, "lobby", f"since={since}")
    welcome = await receive(comm)
    assert [m["seq"] for m in welcome["history"]] == [1, 2]  # as without `since`
    refusal = await receive(comm)  # next, before any presence frame
    assert refusal["type"] == "error" and refusal["code"] == "invalid"
    assert list(refusal["errors"]) == ["since"]
    # The socket stays open and usable.
    await comm.send_json_to({"type": "heartbeat"})
    await receive_until(comm, lambda f: f["type"] == "heartbeat")
    await comm.disconnect()


async def test_a_valid_since_sends_no_error_frame(lobby, alice):
    await database_sync_to_async(post_many)(lobby, alice, 2)
    comm = await chat_socket(alice, "lobby", "since=1")
    await receive(comm)
    await comm.send_json_to({"type": "heartbeat"})
    _, before = await receive_until(comm, lambda f: f["type"] == "heartbeat")
    assert [f for f in before if f["type"] == "error"] == []
    await comm.disconnect()


async def test_since_at_the_newest_seq_gives_an_empty_complete_history(lobby, alice):
    await database_sync_to_async(post_many)(lobby, alice, 3)
    comm = await chat_socket(alice, "lobby", "since=3")
    welcome = await receive(comm)
    assert welcome["history"] == [] and welcome["complete"] is True
    await comm.disconnect()


# --- messages ---------------------------------------------------------------------------------


async def test_a_message_reaches_everyone_in_the_room_the_sender_included(
    lobby, alice, bob
):
    a = await chat_socket(alice, "lobby")
    b = await chat_socket(bob, "lobby")
    await receive(a)
    await receive(b)
    await a.send_to(
        text_data=json.dumps(
            {"type": "message", "body": "  hello  ", "client_id": "k1"}
        )
    )
    for comm in (a, b):
        frame, _ = await receive_until(comm, is_message)
        assert (
            frame["body"] == "hello"
            and frame["seq"] == 1
            and frame["client_id"] == "k1"
        )
        assert (
            frame["user"] == {"id": alice.pk, "username": "alice"}
            and frame["room"] == "lobby"
        )
    await a.disconnect()
    await b.disconnect()


async def test_a_resend_with_the_same_client_id_gets_the_original_back_only(
    lobby, alice, bob
):
    a = await chat_socket(alice, "lobby")
    b = await chat_socket(bob, "lobby")
    await receive(a)
    await receive(b)
    frame = {"type": "message", "body": "once", "client_id": "same"}
    await a.send_to(text_data=json.dumps(frame))
    first, _ = await receive_until(a, is_message)
    await a.send_to(text_data=json.dumps({**frame, "body": "twice?"}))
    again, _ = await receive_until(a, is_message)
    assert again == first
    # bob saw exactly one message: the next one he gets is seq 2.
    await a.send_to(text_data=json.dumps({"type": "message", "body": "next"}))
    seen = [(await receive_until(b, is_message))[0]["seq"] for _ in range(2)]
    assert seen == [1, 2]
    assert await database_sync_to_async(Message.objects.count)() == 2
    await a.disconnect()
    await b.disconnect()


async def test_messages_of_another_room_do_not_arrive(lobby, alice, bob):
    other = await database_sync_to_async(services.room_create)(
        slug="other", name="Other"
    )
    a = await chat_socket(alice, "lobby")
    b = await chat_socket(bob, "other")
    await receive(a)
    await receive(b)
    await b.send_to(text_data=json.dumps({"type": "message", "body": "in other"}))
    await receive_until(b, is_message)
    await database_sync_to_async(services.message_create)(
        room=lobby, user=bob, body="in lobby"
    )
    frame, _ = await receive_until(a, is_message)
    assert frame["body"] == "in lobby" and frame["room"] == "lobby"
    assert other.slug == "other"
    await a.disconnect()
    await b.disconnect()


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "bad_json"),
        ("[1, 2]", "bad_json"),
        ('{"type": "shout", "body": "x"}', "unknown_type"),
        ('{"type": "websocket.close"}', "unknown_type"),
        ('{"type": "message", "body": "   "}', "invalid"),
        ('{"type": "message", "body": 5}', "invalid"),
        ('{"type": "message", "body": "x", "extra": 1}', "invalid"),
        (
            '{"type": "message", "body": "x", "client_id": "' + "c" * 65 + '"}',
            "invalid",
        ),
        ('{"type": "message", "body": "' + "x" * 4001 + '"}', "too_large"),
        ('{"type": "message", "body": "a\\u0000b"}', "invalid"),
        ('{"type": "message", "body": "x", "client_id": "\\u0000"}', "invalid"),
    ],
)
async def test_a_bad_frame_is_answered_without_disturbing_the_other_members(
    lobby, alice, bob, raw, code
):
    a = await chat_socket(alice, "lobby")
    b = await chat_socket(bob, "lobby")
    await receive(a)
    await receive(b)
    await a.send_to(text_data=raw)
    error, _ = await receive_until(a, lambda f: f["type"] == "error")
    assert error["code"] == code and error["detail"]
    # Both sockets still work, and bob's next message is the first thing he sees of alice.
    await a.send_to(text_data=json.dumps({"type": "message", "body": "still here"}))
    frame, before = await receive_until(b, is_message)
    assert frame["body"] == "still here" and frame["seq"] == 1
    assert [f["type"] for f in before] in ([], ["presence"])
    await a.disconnect()
    await b.disconnect()


async def test_a_binary_frame_closes_with_1003(lobby, alice):
    a = await chat_socket(alice, "lobby")
    await receive(a)
    await a.send_to(bytes_data=b"\x00\x01")
    assert await closed_with(a) == 1003


async def test_heartbeat_is_answered(lobby, alice):
    a = await chat_socket(alice, "lobby")
    await receive(a)
    await a.send_to(text_data='{"type": "heartbeat"}')
    frame, _ = await receive_until(a, lambda f: f["type"] == "heartbeat")
    assert frame["ts"]
    await a.disconnect()


# --- kick, delete, system ---------------------------------------------------------------------


async def test_revoking_a_member_closes_their_live_socket_with_4403_within_a_second(
    secret, alice, bob
):
    await database_sync_to_async(services.membership_grant)(room=secret, user=bob)
    a = await chat_socket(alice, "secret")
    b = await chat_socket(bob, "secret")
    await receive(a)
    await receive(b)
    started = time.monotonic()
    await database_sync_to_async(services.membership_revoke)(room=secret, user=bob)
    assert await closed_with(b, within=1.0) == 4403
    assert time.monotonic() - started < 1.0
    # alice stays: her next frame is a message, not a close.
    await database_sync_to_async(services.message_create)(
        room=secret, user=alice, body="ok"
    )
    frame, _ = await receive_until(a, is_message)
    assert frame["body"] == "ok"
    # And bob cannot come back.
    again = await chat_socket(bob, "secret")
    assert await closed_with(again) == 4403
    await a.disconnect()


async def test_deleting_the_room_closes_its_sockets_with_4404(lobby, alice):
    a = await chat_socket(alice, "lobby")
    await receive(a)
    await database_sync_to_async(services.room_delete)(room=lobby)
    assert await closed_with(a, within=1.0) == 4404


async def test_deleting_a_message_tells_the_rooms_sockets(lobby, alice):
    message = await database_sync_to_async(services.message_create)(
        room=lobby, user=alice, body="oops"
    )
    a = await chat_socket(alice, "lobby")
    await receive(a)
    await database_sync_to_async(services.message_delete)(message=message[0])
    frame, _ = await receive_until(a, lambda f: f["type"] == "message_updated")
    assert frame["message"]["id"] == message[0].pk
    assert frame["message"]["seq"] == 1 and frame["message"]["deleted"] is True
    await a.disconnect()


async def test_system_broadcasts_reach_the_room_and_every_room(lobby, alice, bob):
    other = await database_sync_to_async(services.room_create)(
        slug="other", name="Other"
    )
    a = await chat_socket(alice, "lobby")
    b = await chat_socket(bob, "other")
    await receive(a)
    await receive(b)
    await database_sync_to_async(services.system_broadcast)(
        room=lobby, body="lobby only"
    )
    await database_sync_to_async(services.system_broadcast)(body="all rooms")
    got_a = [
        (await receive_until(a, lambda f: f["type"] == "system"))[0]["body"]
        for _ in range(2)
    ]
    got_b = (await receive_until(b, lambda f: f["type"] == "system"))[0]["body"]
    assert got_a == ["lobby only", "all rooms"] and got_b == "all rooms"
    assert other.pk
    await a.disconnect()
    await b.disconnect()


async def test_frames_of_other_apps_on_the_user_topic_are_not_forwarded(lobby, alice):
    a = await chat_socket(alice, "lobby")
    await receive(a)

    def publish() -> None:
        broadcast.publish(user_topic(alice.pk), {"type": "unread", "count": 3})
        services.system_broadcast(room=lobby, body="after")

    await database_sync_to_async(publish)()
    frame, before = await receive_until(a, lambda f: f["type"] == "system")
    assert frame["body"] == "after"
    assert "unread" not in [f["type"] for f in before]
    await a.disconnect()


# --- presence ---------------------------------------------------------------------------------


async def test_presence_counts_a_user_once_across_two_tabs(lobby, alice, bob, carol):
    watcher = await chat_socket(bob, "lobby")
    await receive(watcher)
    frame, _ = await receive_until(watcher, is_presence)
    assert frame["joins"] == [{"id": bob.pk, "username": "bob"}] and frame["count"] == 1

    tab1 = await chat_socket(alice, "lobby")
    tab2 = await chat_socket(alice, "lobby")
    assert (await receive(tab2))["online_count"] == 2
    frame, _ = await receive_until(watcher, is_presence)
    assert frame == {
        "type": "presence",
        "joins": [{"id": alice.pk, "username": "alice"}],
        "leaves": [],
        "count": 2,
    }
    await tab1.disconnect()  # one tab closes: alice stays online
    c = await chat_socket(carol, "lobby")
    frame, _ = await receive_until(watcher, is_presence)
    assert frame == {
        "type": "presence",
        "joins": [{"id": carol.pk, "username": "carol"}],
        "leaves": [],
        "count": 3,
    }
    await tab2.disconnect()  # her last one
    frame, _ = await receive_until(watcher, is_presence)
    assert frame == {
        "type": "presence",
        "joins": [],
        "leaves": [{"id": alice.pk, "username": "alice"}],
        "count": 2,
    }
    await c.disconnect()
    await watcher.disconnect()


async def test_presence_frames_are_batched_per_interval(
    lobby, alice, bob, carol, settings
):
    settings.WS_PRESENCE_INTERVAL = 1.0
    watcher = await chat_socket(carol, "lobby")
    await receive(watcher)
    await receive_until(watcher, is_presence)
    a = await chat_socket(alice, "lobby")
    b = await chat_socket(bob, "lobby")
    frame, _ = await receive_until(watcher, is_presence)
    assert {u["username"] for u in frame["joins"]} == {"alice", "bob"} and frame[
        "count"
    ] == 3
    await a.disconnect()
    await b.disconnect()
    await watcher.disconnect()


async def test_presence_of_a_user_who_joins_and_leaves_within_one_batch_is_not_sent(
    lobby, alice, bob, carol, settings
):
    settings.WS_PRESENCE_INTERVAL = 1.0
    watcher = await chat_socket(carol, "lobby")
    await receive(watcher)
    await receive_until(watcher, is_presence)
    brief = await chat_socket(alice, "lobby")
    await receive(brief)
    await brief.disconnect()
    stays = await chat_socket(bob, "lobby")
    frame, before = await receive_until(watcher, is_presence)
    assert frame["joins"] == [{"id": bob.pk, "username": "bob"}]
    assert frame["leaves"] == [] and before == []
    await stays.disconnect()
    await watcher.disconnect()


async def test_welcome_lists_at_most_100_online_users_with_the_full_count(
    lobby, make_user
):
    users = await database_sync_to_async(
        lambda: [make_user(f"u{n:03}") for n in range(102)]
    )()
    from realtime.registry import services as ws_services

    def register() -> None:
        for n, user in enumerate(users[1:]):
            ws_services.connection_open(
                connection_id=f"c{n}",
                process_id="elsewhere",
                user_id=user.pk,
                route=ROUTE,
                room_key="lobby",
                max_per_user=0,
                lease_seconds=300,
            )

    await database_sync_to_async(register)()
    comm = await chat_socket(users[0], "lobby")
    welcome = await receive(comm)
    assert len(welcome["online"]) == 100 and welcome["online_count"] == 102
    await comm.disconnect()


async def test_a_frame_cannot_name_its_author(lobby, alice, bob):
    # The author is the socket's user; a `user` field is refused, not obeyed.
    a = await chat_socket(alice, "lobby")
    await receive(a)
    await a.send_to(
        text_data=json.dumps({"type": "message", "body": "hi", "user": bob.pk})
    )
    error, _ = await receive_until(a, lambda f: f["type"] == "error")
    assert error["code"] == "invalid"
    await a.send_to(text_data=json.dumps({"type": "message", "body": "mine"}))
    frame, _ = await receive_until(a, is_message)
    assert frame["user"] == {"id": alice.pk, "username": "alice"}
    await a.disconnect()


async def test_closing_all_sockets_leaves_no_registry_rows(lobby, alice):
    from realtime.registry.models import Connection

    a = await chat_socket(alice, "lobby")
    await receive(a)
    assert (
        await database_sync_to_async(
            Connection.objects.filter(room_key="lobby").count
        )()
        == 1
    )
    await a.disconnect()  # returns once the consumer has finished its teardown
    assert (
        await database_sync_to_async(
            Connection.objects.filter(room_key="lobby").count
        )()
        == 0
    )


async def test_the_welcome_is_first_even_when_an_event_races_the_handshake(
    lobby, alice, monkeypatch
):
    import threading

    from chat import selectors
    from realtime.fanout.hub import hub

    original = selectors.rooms_history

    def racing_history(**kwargs: Any) -> Any:
        # A frame for the room commits while the welcome is being read.
        services.system_broadcast(room=lobby, body="raced")
        delivered = threading.Event()
        hub.loop.call_soon_threadsafe(delivered.set)  # runs after the delivery (FIFO)
        assert delivered.wait(5)
        return original(**kwargs)

    monkeypatch.setattr(selectors, "rooms_history", racing_history)
    comm = await chat_socket(alice, "lobby")
    assert (await receive(comm))["type"] == "welcome"
    frame, _ = await receive_until(comm, lambda f: f["type"] == "system")
    assert frame["body"] == "raced"
    await comm.disconnect()


async def test_reconciliation_announces_a_leave_that_no_flush_reported(
    lobby, alice, bob, settings
):
    # A change whose frame was lost (a process stopped mid-flush): the announced state says
    # carol is online, the registry has no socket of hers. Every lease period each process
    # compares the two and flushes the rooms that drifted.
    settings.WS_PROCESS_LEASE_SECONDS = 1
    await batcher.stop()  # started with the default period: again, with the new one
    await batcher.start()
    from chat.models import AnnouncedPresence

    watcher = await chat_socket(bob, "lobby")
    await receive(watcher)
    await receive_until(watcher, is_presence)  # bob's own join: the last regular flush
    await database_sync_to_async(AnnouncedPresence.objects.create)(
        room=lobby, user=alice
    )
    frame, _ = await receive_until(watcher, is_presence, within=10)
    assert frame == {
        "type": "presence",
        "joins": [],
        "leaves": [{"id": alice.pk, "username": "alice"}],
        "count": 1,
    }
    await watcher.disconnect()


async def test_a_live_frame_of_a_message_the_welcome_held_is_not_sent_again(
    lobby, alice
):
    # A message committed between the socket's subscribe and its history read is in
    # both; the socket sends it once (each seq once per socket, PROTOCOL.md 4).
    await database_sync_to_async(post_many)(lobby, alice, 3)
    comm = await chat_socket(alice, "lobby")
    welcome = await receive(comm)
    assert [m["seq"] for m in welcome["history"]] == [1, 2, 3]
    third = welcome["history"][-1]

    def replay_and_post() -> None:
        with transaction.atomic():
            broadcast.publish_many(
                [(chat_room_group(lobby.pk), json.dumps(third), 3)], kind="message"
            )
        services.message_create(room=lobby, user=alice, body="fourth")

    await database_sync_to_async(replay_and_post)()
    frame, skipped = await receive_until(comm, is_message)
    assert frame["seq"] == 4
    assert not [f for f in skipped if f.get("seq") == 3]
    await comm.disconnect()


@pytest.mark.parametrize(
    ("body", "code"), [("   ", "invalid"), ("x" * 4001, "too_large")]
)
async def test_a_refused_message_s_error_names_its_client_id(lobby, alice, body, code):
    a = await chat_socket(alice, "lobby")
    await receive(a)
    await a.send_to(
        text_data=json.dumps({"type": "message", "body": body, "client_id": "k-9"})
    )
    error, _ = await receive_until(a, lambda f: f["type"] == "error")
    assert (error["code"], error["client_id"]) == (code, "k-9")
    await a.disconnect()
