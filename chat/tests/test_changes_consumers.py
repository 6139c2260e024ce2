"""Edit, delete and react on the chat socket, `message_updated`, resume with since+rev."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async

from chat import services
from chat.models import Message
from chat.tests.conftest import chat_socket, receive, receive_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("serving"),
]


def is_updated(frame: dict[str, Any]) -> bool:
    return frame["type"] == "message_updated"


def is_error(frame: dict[str, Any]) -> bool:
    return frame["type"] == "error"


@database_sync_to_async
def post(room: Any, user: Any, body: str = "hi", **kw: Any) -> Message:
    message, _ = services.message_create(room=room, user=user, body=body, **kw)
    return message


@database_sync_to_async
def current(message: Message) -> Message:
    return Message.objects.get(pk=message.pk)


async def test_an_edit_reaches_every_socket_of_the_room_as_message_updated(
    lobby, alice, bob
):
    message = await post(lobby, alice, "helo")
    a = await chat_socket(alice, "lobby")
    b = await chat_socket(bob, "lobby")
    await receive(a)
    await receive(b)
    await a.send_json_to({"type": "edit", "id": message.pk, "body": "hello"})
    for comm in (a, b):
        frame, _ = await receive_until(comm, is_updated)
        assert frame["message"]["id"] == message.pk
        assert frame["message"]["body"] == "hello" and frame["message"]["rev"] == 1
        assert frame["message"]["edited"] is not None
    await a.disconnect()
    await b.disconnect()


async def test_a_message_updated_of_a_message_the_welcome_held_is_not_dropped(
    lobby, alice
):
    message = await post(lobby, alice)
    a = await chat_socket(alice, "lobby")
    welcome = await receive(a)
    assert welcome["history"][-1]["seq"] == message.seq  # the socket has "seen" it
    await a.send_json_to({"type": "react", "id": message.pk, "emoji": "+1"})
    frame, _ = await receive_until(a, is_updated)
    assert frame["message"]["reactions"] == [
        {"emoji": "+1", "count": 1, "users": [alice.pk]}
    ]
    await a.send_json_to({"type": "delete", "id": message.pk})
    frame, _ = await receive_until(a, is_updated)
    assert frame["message"]["deleted"] is True and frame["message"]["body"] == ""
    await a.disconnect()


async def test_editing_anothers_message_is_an_error_frame_and_the_socket_stays(
    lobby, alice, bob
):
    message = await post(lobby, alice)
    b = await chat_socket(bob, "lobby")
    await receive(b)
    await b.send_json_to({"type": "edit", "id": message.pk, "body": "mine"})
    frame, _ = await receive_until(b, is_error)
    assert frame["code"] == "permission_denied"
    await b.send_json_to({"type": "delete", "id": message.pk})
    frame, _ = await receive_until(b, is_error)
    assert frame["code"] == "permission_denied"
    assert (await current(message)).body == "hi"
    await b.send_json_to({"type": "heartbeat"})
    await receive_until(b, lambda f: f["type"] == "heartbeat")
    await b.disconnect()


async def test_a_message_of_another_room_is_not_found(lobby, alice):
    other = await database_sync_to_async(services.room_create)(
        slug="other", name="Other"
    )
    elsewhere = await post(other, alice)
    a = await chat_socket(alice, "lobby")
    await receive(a)
    await a.send_json_to({"type": "react", "id": elsewhere.pk, "emoji": "+1"})
    frame, _ = await receive_until(a, is_error)
    assert frame["code"] == "not_found"
    await a.disconnect()


async def test_reacting_to_a_tombstone_and_a_bad_emoji_are_invalid(lobby, alice):
    message = await post(lobby, alice)
    await database_sync_to_async(services.message_delete)(message=message)
    a = await chat_socket(alice, "lobby")
    await receive(a)
    await a.send_json_to({"type": "react", "id": message.pk, "emoji": "+1"})
    frame, _ = await receive_until(a, is_error)
    assert frame["code"] == "invalid" and list(frame["errors"]) == ["id"]
    await a.send_json_to({"type": "react", "id": message.pk, "emoji": "a b"})
    frame, _ = await receive_until(a, is_error)
    assert frame["code"] == "invalid" and "emoji" in frame["errors"]
    await a.disconnect()


async def test_an_edit_frame_with_an_unknown_field_is_invalid(lobby, alice):
    message = await post(lobby, alice)
    a = await chat_socket(alice, "lobby")
    await receive(a)
    await a.send_json_to({"type": "edit", "id": message.pk, "body": "x", "user": 1})
    frame, _ = await receive_until(a, is_error)
    assert frame["code"] == "invalid"
    await a.disconnect()


async def test_a_reply_sent_on_the_socket_carries_its_target(lobby, alice, bob):
    question = await post(lobby, alice, "q?")
    b = await chat_socket(bob, "lobby")
    await receive(b)
    await b.send_json_to(
        {"type": "message", "body": "a", "reply_to": question.pk, "client_id": "c1"}
    )
    frame, _ = await receive_until(b, lambda f: f["type"] == "message")
    assert frame["reply_to"]["id"] == question.pk
    assert frame["reply_to"]["preview"] == "q?"
    await b.send_json_to(
        {"type": "message", "body": "a", "reply_to": 10**12, "client_id": "c2"}
    )
    frame, _ = await receive_until(b, is_error)
    assert frame["code"] == "invalid" and "reply_to" in frame["errors"]
    assert frame["client_id"] == "c2"
    await b.disconnect()


async def test_the_welcome_carries_the_rooms_rev(lobby, alice):
    message = await post(lobby, alice)
    for body in ("x", "y"):
        await database_sync_to_async(services.message_edit)(
            message=message, user=alice, body=body
        )
    a = await chat_socket(alice, "lobby")
    welcome = await receive(a)
    assert welcome["rev"] == 2 and welcome["changes"] == []
    await a.disconnect()


async def test_resuming_with_since_and_rev_gives_new_messages_and_changes(
    lobby, alice, bob
):
    old = [await post(lobby, alice, f"m{n}") for n in range(4)]
    a = await chat_socket(alice, "lobby")
    welcome = await receive(a)
    await a.disconnect()
    seen_seq, seen_rev = welcome["history"][-1]["seq"], welcome["rev"]
    # While away: two old messages change, one twice, and a new one comes.
    await database_sync_to_async(services.message_edit)(
        message=old[1], user=alice, body="edited"
    )
    await database_sync_to_async(services.reaction_toggle)(
        message=old[1], user=bob, emoji="+1"
    )
    await database_sync_to_async(services.message_delete)(message=old[3], by=alice)
    new = await post(lobby, bob, "new")
    a = await chat_socket(alice, "lobby", f"since={seen_seq}&rev={seen_rev}")
    welcome = await receive(a)
    assert [m["id"] for m in welcome["history"]] == [new.pk]
    assert [m["id"] for m in welcome["changes"]] == [old[1].pk, old[3].pk]
    edited, tombstone = welcome["changes"]
    assert edited["body"] == "edited" and edited["reactions"][0]["users"] == [bob.pk]
    assert tombstone["deleted"] is True
    assert welcome["rev"] == 3 and welcome["complete"] is True
    await a.disconnect()


async def test_rev_without_since_gives_no_changes(lobby, alice):
    message = await post(lobby, alice)
    await database_sync_to_async(services.message_edit)(
        message=message, user=alice, body="x"
    )
    a = await chat_socket(alice, "lobby", "rev=0")
    welcome = await receive(a)
    assert welcome["changes"] == [] and welcome["history"][0]["body"] == "x"
    await a.disconnect()


@pytest.mark.parametrize("rev", ["abc", "-1", "1" * 30])
async def test_a_malformed_rev_is_refused_with_an_error_frame_after_the_welcome(
    lobby, alice, rev
):
    a = await chat_socket(alice, "lobby", f"since=0&rev={rev}")
    welcome = await receive(a)
    assert welcome["changes"] == []
    refusal = await receive(a)
    assert refusal["code"] == "invalid" and list(refusal["errors"]) == ["rev"]
    await a.disconnect()


async def test_refusals_of_changes_do_not_close_an_honest_socket(
    lobby, alice, bob, settings
):
    settings.WS_MAX_INVALID_FRAMES = 3
    message = await post(lobby, alice)
    b = await chat_socket(bob, "lobby")
    await receive(b)
    for _ in range(5):
        await b.send_json_to({"type": "delete", "id": message.pk})
        frame, _ = await receive_until(b, is_error)
        assert frame["code"] == "permission_denied"
    await b.send_json_to({"type": "heartbeat"})
    await receive_until(b, lambda f: f["type"] == "heartbeat")
    await b.disconnect()


class Replica:
    """What a client holds: every message by id, the last seq, the welcome's rev."""

    def __init__(self) -> None:
        self.messages: dict[int, dict[str, Any]] = {}
        self.last_seq = 0
        self.rev: int | None = None

    def apply(self, message: dict[str, Any]) -> None:
        held = self.messages.get(message["id"])
        if held is None or message["rev"] >= held["rev"]:
            self.messages[message["id"]] = message
        self.last_seq = max(self.last_seq, message["seq"])

    def query(self) -> str:
        if self.rev is None:
            return ""
        return f"since={self.last_seq}&rev={self.rev}"

    async def welcome(self, room: Any, frame: dict[str, Any], sent_rev: int) -> None:
        from chat import selectors

        for message in frame["history"] + frame["changes"]:
            self.apply(message)
        if not frame["complete"]:  # page the rest, as over REST
            after = self.last_seq
            while True:
                page, more = await database_sync_to_async(selectors.messages_page)(
                    room=room, after=after, limit=2
                )
                for message in page:
                    self.apply(message)
                if not more:
                    break
                after = page[-1]["seq"]
            rev = frame["changes"][-1]["rev"] if frame["changes"] else sent_rev
            while True:
                page, more = await database_sync_to_async(selectors.changes_page)(
                    room=room, rev=rev, limit=2
                )
                for message in page:
                    self.apply(message)
                if not more:
                    break
                rev = page[-1]["rev"]
        self.rev = frame["rev"]


async def test_a_client_that_applies_welcomes_and_live_frames_converges(
    lobby, alice, bob, monkeypatch
):
    """Seeded random edits, deletes, reactions and posts while a client comes and goes;
    after each reconnect and at the end it holds exactly the server's messages."""
    import random

    from chat import selectors

    monkeypatch.setattr(selectors, "CHANGES_MAX", 3)
    monkeypatch.setattr(selectors, "HISTORY_SINCE_MAX", 3)
    rng = random.Random(16)
    replica = Replica()
    ids: list[int] = [(await post(lobby, alice, "seed")).pk]
    comm = None

    async def connect() -> Any:
        sent_rev = replica.rev or 0
        comm = await chat_socket(alice, "lobby", replica.query())
        await replica.welcome(lobby, await receive(comm), sent_rev)
        return comm

    async def until(predicate: Any) -> None:
        if comm is not None:
            frame, before = await receive_until(comm, predicate)
            for f in [*before, frame]:
                if f["type"] == "message":
                    replica.apply(f)
                elif f["type"] == "message_updated":
                    replica.apply(f["message"])

    comm = await connect()
    for step in range(60):
        if rng.random() < 0.2:
            if comm is not None:
                await comm.disconnect()
                comm = None
            else:
                comm = await connect()
        kind = rng.choice(["post", "edit", "delete", "react", "react"])
        target = await current(Message(pk=rng.choice(ids)))
        author = alice if target.user_id == alice.pk else bob
        if kind == "post":
            message = await post(lobby, rng.choice([alice, bob]), f"p{step}")
            ids.append(message.pk)
            await until(lambda f, pk=message.pk: f.get("id") == pk)
            continue
        if target.deleted:
            continue
        if kind == "edit":
            frame = await database_sync_to_async(services.message_edit)(
                message=target, user=author, body=f"e{step}"
            )
        elif kind == "delete":
            frame = await database_sync_to_async(services.message_delete)(
                message=target, by=alice
            )
        else:
            frame = await database_sync_to_async(services.reaction_toggle)(
                message=target, user=rng.choice([alice, bob]), emoji=rng.choice("ab")
            )
        await until(
            lambda f, rev=frame["rev"]: (
                f["type"] == "message_updated" and f["message"]["rev"] == rev
            )
        )
    if comm is not None:
        await comm.disconnect()
    comm = await connect()  # one last resume
    await comm.disconnect()
    server, _ = await database_sync_to_async(selectors.messages_page)(
        room=lobby, after=0, limit=200
    )
    assert {m["id"]: m for m in server} == replica.messages
    revs = await database_sync_to_async(selectors.room_revs)(room_ids=[lobby.pk])
    assert revs[lobby.pk] > 20


async def test_a_resent_reply_gets_its_original_back_and_the_socket_stays(
    lobby, alice, bob
):
    question = await post(lobby, alice, "q?")
    b = await chat_socket(bob, "lobby")
    await receive(b)
    sent = {"type": "message", "body": "a", "reply_to": question.pk, "client_id": "r1"}
    await b.send_json_to(sent)
    first, _ = await receive_until(b, lambda f: f["type"] == "message")
    await b.send_json_to(sent)  # the ack was lost: the client sends it again
    again, _ = await receive_until(b, lambda f: f["type"] == "message")
    assert again == first and again["reply_to"]["id"] == question.pk
    await b.send_json_to({"type": "heartbeat"})
    assert (await receive_until(b, lambda f: f["type"] == "heartbeat"))[0]
    assert await database_sync_to_async(Message.objects.count)() == 2
    await b.disconnect()
