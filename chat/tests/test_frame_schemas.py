"""Every frame a chat socket sends keeps its schema (ChatConsumer.outbound and the
plumbing's), built by the real services and builders; a frame off its schema is named."""

from __future__ import annotations

import orjson
import pytest

from chat import selectors, services
from chat.consumers import ChatConsumer
from chat.schemas import (
    CHAT_EVENT_KINDS,
    message_frame,
    presence_frame,
    user_out,
    welcome_frame,
)
from notifications.consumers import NotifyConsumer
from realtime.socket.frames import dumps, outbound_problem

pytestmark = pytest.mark.django_db

TABLE = ChatConsumer.outbound_schemas()
NOTIFY_TABLE = NotifyConsumer.outbound_schemas()


def test_the_frames_of_messages_deletes_and_broadcasts_keep_their_schemas(
    lobby, alice, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first, _ = services.message_create(room=lobby, user=alice, body="hi")
        services.message_create(room=lobby, user=alice, body="again", client_id="c-1")
        services.message_edit(message=first, user=alice, body="hi there")
        services.reaction_toggle(message=first, user=alice, emoji="+1")
        services.message_delete(message=first)
        services.system_broadcast(body="maintenance at noon", room=lobby)
        services.system_broadcast(body="to every room")
    # Activity goes to notify sockets only; the rest to chat sockets (read: to both).
    sent = [e.text for t, e in published if not t.startswith("notify.")]
    assert [orjson.loads(text)["type"] for text in sent] == [
        "message",
        "read",
        "message",
        "read",
        "message_updated",
        "message_updated",
        "message_updated",
        "system",
        "system",
    ]
    for text in sent:
        assert outbound_problem(text, TABLE) is None, text
    notify = [e.text for t, e in published if t.startswith("notify.")]
    assert [orjson.loads(text)["type"] for text in notify] == ["activity"] * 2
    for text in notify + [t for t in sent if '"type":"read"' in t]:
        assert outbound_problem(text, NOTIFY_TABLE) is None, text


def test_the_welcome_with_history_changes_and_online_keeps_its_schema(
    lobby, alice, bob
):
    for body in ("one", "two"):
        services.message_create(room=lobby, user=alice, body=body)
    first, _ = services.message_create(room=lobby, user=alice, body="three")
    services.message_create(room=lobby, user=bob, body="re", reply_to=first.pk)
    services.reaction_toggle(message=first, user=bob, emoji="\U0001f44d")
    services.message_edit(message=first, user=alice, body="3")
    history, complete = selectors.room_history(room=lobby, since=None)
    changes, _ = selectors.room_changes(room=lobby, since=4, rev=0)
    frame = welcome_frame(
        room_slug=lobby.slug,
        user=user_out(alice.pk, alice.username),
        connection_id="c0nnect10n1d",
        heartbeat_interval=25,
        online=[user_out(alice.pk, alice.username)],
        online_count=1,
        history=history,
        complete=complete,
        rev=2,
        changes=changes,
    )
    assert len(frame["history"]) == 4 and len(frame["changes"]) == 1
    assert frame["history"][3]["reply_to"]["preview"] == "3"
    assert frame["changes"][0]["reactions"] == [
        {"emoji": "\U0001f44d", "count": 1, "users": [bob.pk]}
    ]
    assert outbound_problem(dumps(frame), TABLE) is None


def test_a_presence_diff_keeps_its_schema():
    frame = presence_frame(
        joins=[user_out(1, "alice")], leaves=[user_out(2, "bob")], count=1
    )
    assert outbound_problem(dumps(frame), TABLE) is None


def _message(lobby, alice, **changes):
    message, _ = services.message_create(room=lobby, user=alice, body="hi")
    frame = {**message_frame(message, room_slug=lobby.slug), **changes}
    return dumps({k: v for k, v in frame.items() if v is not ...})


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"revision": 1}, "revision: Extra inputs are not permitted"),
        ({"deleted": ...}, "deleted: Field required"),
        ({"reactions": [{"emoji": "x", "count": 1}]}, "reactions.0.users: Field"),
        ({"client_id": ...}, "client_id: Field required"),
        ({"seq": "1"}, "seq: Input should be a valid integer"),
        ({"user": {"id": 1}}, "user.username: Field required"),
        ({"ts": "yesterday"}, "ts: String should match pattern"),
        ({"type": "messages"}, "type 'messages' is not one this route sends"),
    ],
)
def test_a_message_frame_off_its_schema_is_named(lobby, alice, changes, problem):
    found = outbound_problem(_message(lobby, alice, **changes), TABLE)
    assert found is not None and problem in found, found


def test_every_kind_a_chat_socket_forwards_has_a_schema():
    assert CHAT_EVENT_KINDS <= set(TABLE)
    assert {"welcome", "error", "heartbeat", "auth"} <= set(TABLE)
