"""Models and services: seq, idempotency, events after commit, whitelist, presence diffs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from chat import selectors, services
from chat.errors import NotAllowed, RoomGone
from chat.models import AnnouncedPresence, Membership, Message, Room
from chat.tests import concurrency_probe
from chat.topics import ROUTE, chat_all_group, chat_room_group
from realtime.registry import services as ws_services
from realtime.socket.closecodes import CloseCode
from tests import harness

pytestmark = pytest.mark.django_db

PROBE = Path(concurrency_probe.__file__)


def post(
    room: Room, user: Any, body: str = "hi", client_id: str | None = None
) -> Message:
    message, _ = services.message_create(
        room=room, user=user, body=body, client_id=client_id
    )
    return message


# --- seq --------------------------------------------------------------------------------


def test_seq_counts_each_rooms_messages_from_one(lobby, secret, alice):
    assert [post(lobby, alice).seq for _ in range(3)] == [1, 2, 3]
    assert post(secret, alice).seq == 1
    assert Room.objects.get(pk=lobby.pk).last_seq == 3


def test_seq_is_unique_per_room_in_the_database(lobby, alice):
    post(lobby, alice)
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(room=lobby, user=alice, seq=1, body="again")


def test_seq_is_not_reused_after_the_newest_message_is_deleted(lobby, alice):
    post(lobby, alice)
    newest = post(lobby, alice)
    services.message_delete(message=newest)
    assert post(lobby, alice).seq == 3


@pytest.mark.django_db(transaction=True)
def test_seq_has_no_gap_or_duplicate_under_concurrent_writers_on_sqlite():
    result = concurrency_probe.run(threads=6, messages=15)
    assert result["vendor"] == "sqlite"
    assert result["errors"] == []
    assert result["seqs"] == list(range(1, 91))
    assert result["published"] == list(
        range(1, 92)
    )  # each once, the resend round's too
    assert result["last_seq"] == 91  # the resend round stored exactly one more
    assert result["resend_created"] == 1 and result["resend_stored"] == 1
    assert len(result["resend_ids"]) == 1


def test_seq_has_no_gap_or_duplicate_under_concurrent_writers_on_postgresql(
    pg_database,
):
    env = harness.base_env(DATABASE_URL=pg_database)
    harness.migrate(env)
    result = harness.run_probe(PROBE, env, "--threads", "8", "--messages", "25")
    assert result["vendor"] == "postgresql"
    assert result["errors"] == []
    assert result["seqs"] == list(range(1, 201))
    assert result["published"] == list(range(1, 202))
    assert result["last_seq"] == 201
    assert result["resend_created"] == 1 and result["resend_stored"] == 1
    assert len(result["resend_ids"]) == 1


# --- client_id --------------------------------------------------------------------------


def test_resend_with_the_same_client_id_returns_the_original_and_stores_nothing(
    lobby, alice, published
):
    with transaction.atomic():
        first, created = services.message_create(
            room=lobby, user=alice, body="hello", client_id="c-1"
        )
    with transaction.atomic():
        again, created_again = services.message_create(
            room=lobby, user=alice, body="hello (edited)", client_id="c-1"
        )
    assert created and not created_again
    assert again.pk == first.pk and again.seq == 1 and again.body == "hello"
    assert Message.objects.filter(room=lobby).count() == 1
    assert Room.objects.get(pk=lobby.pk).last_seq == 1


def test_client_id_is_scoped_to_the_user_and_the_room(lobby, secret, alice, bob):
    services.membership_grant(room=secret, user=bob)
    ids = {
        post(lobby, alice, client_id="same").pk,
        post(lobby, bob, client_id="same").pk,
        post(secret, alice, client_id="same").pk,
    }
    assert len(ids) == 3


def test_messages_without_client_id_are_never_deduplicated(lobby, alice):
    assert post(lobby, alice, "x").pk != post(lobby, alice, "x").pk


@pytest.mark.parametrize("client_id", ["", "x" * 65])
def test_client_id_must_be_1_to_64_characters(lobby, alice, client_id):
    with pytest.raises(ValidationError):
        post(lobby, alice, client_id=client_id)


# --- bodies -----------------------------------------------------------------------------


def test_body_is_stored_trimmed(lobby, alice):
    assert post(lobby, alice, "  hi there \n").body == "hi there"


@pytest.mark.parametrize("body", ["", "   \n\t "])
def test_empty_body_is_refused(lobby, alice, body):
    with pytest.raises(ValidationError):
        post(lobby, alice, body)
    assert Room.objects.get(pk=lobby.pk).last_seq == 0


def test_body_over_the_limit_is_refused(lobby, alice, settings):
    settings.WS_MAX_BODY_CHARS = 10
    post(lobby, alice, "x" * 10)
    with pytest.raises(ValidationError):
        post(lobby, alice, "x" * 11)


# --- events after commit ---------------------------------------------------------------


def test_message_is_published_to_its_room_after_commit(
    lobby, alice, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        message = post(lobby, alice, "hello", client_id="c-9")
        assert published == []  # nothing before the commit
    assert len(callbacks) == 1  # one hop for the room, the sender's pointer, activity
    (topic, event), *after = published
    assert [e.kind for _, e in after] == ["read", "activity"]
    assert topic == chat_room_group(lobby.pk) == f"chat.room.{lobby.pk}"
    assert json.loads(event.text) == {
        "type": "message",
        "id": message.pk,
        "seq": 1,
        "room": "lobby",
        "user": {"id": alice.pk, "username": "alice"},
        "body": "hello",
        "ts": message.created.isoformat().replace("+00:00", "Z"),
        "client_id": "c-9",
        "rev": 0,
        "edited": None,
        "deleted": False,
        "reactions": [],
        "reply_to": None,
    }


@pytest.mark.django_db(transaction=True)
def test_rollback_sends_nothing_and_stores_nothing(published):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username="dave")
    room = services.room_create(slug="rolled", name="Rolled")
    with pytest.raises(RuntimeError), transaction.atomic():
        services.message_create(room=room, user=user, body="never")
        raise RuntimeError("the caller fails after the service")
    assert published == []
    assert not Message.objects.filter(room=room).exists()
    assert Room.objects.get(pk=room.pk).last_seq == 0
    # The same call, committed, does send: the test above could have failed.
    services.message_create(room=room, user=user, body="now")
    assert [f["seq"] for f in published.frames(chat_room_group(room.pk))] == [1]


def test_resend_sends_nothing(
    lobby, alice, published, django_capture_on_commit_callbacks
):
    post(lobby, alice, client_id="c-1")
    with django_capture_on_commit_callbacks(execute=True):
        post(lobby, alice, client_id="c-1")
    assert published == []


# --- rooms and the whitelist -------------------------------------------------------------


def test_room_create_puts_the_owner_on_the_whitelist(alice):
    room = services.room_create(slug="mine", name="Mine", is_private=True, owner=alice)
    assert Membership.objects.filter(room=room, user=alice).exists()
    assert selectors.user_can_enter(room=room, user=alice)


def test_room_slug_is_unique_and_a_slug(alice):
    services.room_create(slug="one")
    with pytest.raises(ValidationError):
        services.room_create(slug="one")
    with pytest.raises(ValidationError):
        services.room_create(slug="not a slug")


def test_a_slug_taken_by_a_concurrent_create_is_a_validation_error(monkeypatch):
    services.room_create(slug="one")
    # The other request's INSERT lands after this one's uniqueness check.
    monkeypatch.setattr(Room, "validate_unique", lambda self, exclude=None: None)
    with pytest.raises(ValidationError) as refused:
        services.room_create(slug="one")
    assert refused.value.message_dict == {
        "slug": ["Room with this Slug already exists."]
    }
    assert Room.objects.filter(slug="one").count() == 1


def test_posting_to_a_room_deleted_meanwhile_is_refused(lobby, alice):
    services.room_delete(room=lobby)
    with pytest.raises(RoomGone):
        post(lobby, alice)


def test_private_room_refuses_a_post_from_someone_not_whitelisted(secret, bob):
    with pytest.raises(NotAllowed):
        post(secret, bob)
    services.membership_grant(room=secret, user=bob)
    assert post(secret, bob).seq == 1


def test_revoke_removes_the_user_and_closes_their_sockets_in_the_room(
    secret, bob, published, django_capture_on_commit_callbacks
):
    services.membership_grant(room=secret, user=bob)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.membership_revoke(room=secret, user=bob) is True
    assert not selectors.user_can_enter(room=secret, user=bob)
    assert published.closes() == [
        (chat_room_group(secret.pk), CloseCode.FORBIDDEN, bob.pk)
    ]


def test_the_owner_cannot_be_revoked(secret, alice):
    with pytest.raises(ValidationError):
        services.membership_revoke(room=secret, user=alice)
    assert selectors.user_can_enter(room=secret, user=alice)


def test_turning_a_room_private_closes_sockets_of_users_not_whitelisted(
    lobby, alice, bob, published, django_capture_on_commit_callbacks
):
    process = "proc-test"
    for conn, user in (("c-a", alice), ("c-b", bob)):
        ws_services.connection_open(
            connection_id=conn,
            process_id=process,
            user_id=user.pk,
            route=ROUTE,
            room_key="lobby",
            max_per_user=0,
            lease_seconds=30,
        )
    with django_capture_on_commit_callbacks(execute=True):
        services.room_update(room=lobby, is_private=True)
    assert published.closes() == [
        (chat_room_group(lobby.pk), CloseCode.FORBIDDEN, bob.pk)
    ]


def test_message_delete_tells_the_room(
    lobby, alice, published, django_capture_on_commit_callbacks
):
    message = post(lobby, alice)
    with django_capture_on_commit_callbacks(execute=True):
        services.message_delete(message=message)
    [frame] = published.frames(chat_room_group(lobby.pk))
    assert frame["type"] == "message_updated"
    assert frame["message"]["id"] == message.pk
    assert frame["message"]["deleted"] is True and frame["message"]["body"] == ""


def test_system_broadcast_goes_to_one_room_or_to_every_chat_socket(
    lobby, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.system_broadcast(room=lobby, body="maintenance at 5")
        services.system_broadcast(body="everyone")
    topics = [topic for topic, _ in published]
    assert topics == [chat_room_group(lobby.pk), chat_all_group()]
    frame = published.frames()[0]
    assert frame["type"] == "system" and frame["body"] == "maintenance at 5"
    assert frame["ts"].endswith("Z")


# --- presence -----------------------------------------------------------------------------


def open_socket(
    conn_id: str, user: Any, slug: str = "lobby", process: str = "proc-a"
) -> None:
    ws_services.connection_open(
        connection_id=conn_id,
        process_id=process,
        user_id=user.pk,
        route=ROUTE,
        room_key=slug,
        max_per_user=0,
        lease_seconds=30,
    )


def close_socket(conn_id: str) -> None:
    ws_services.connection_close(connection_id=conn_id)


def flush(published: Any, captured: Any, *keys: str, interval: float = 0) -> list[dict]:
    published.clear()
    with captured(execute=True):
        services.presence_flush(room_keys=keys or ["lobby"], interval=interval)
    return [f for f in published.frames() if f["type"] == "presence"]


def test_presence_announces_a_user_once_however_many_tabs(
    lobby, alice, bob, published, django_capture_on_commit_callbacks, monkeypatch
):
    # Only the explicit flushes here: the close signal's own flush is turned off.
    monkeypatch.setattr(
        "chat.presence_batcher.batcher.mark_threadsafe", lambda keys: None
    )
    cap = django_capture_on_commit_callbacks
    open_socket("a1", alice)
    open_socket("a2", alice)
    open_socket("b1", bob)
    assert flush(published, cap) == [
        {
            "type": "presence",
            "joins": [
                {"id": alice.pk, "username": "alice"},
                {"id": bob.pk, "username": "bob"},
            ],
            "leaves": [],
            "count": 2,
        }
    ]
    close_socket("a1")  # a tab closes: alice is still online
    assert flush(published, cap) == []
    close_socket("a2")  # her last one
    assert flush(published, cap) == [
        {
            "type": "presence",
            "joins": [],
            "leaves": [{"id": alice.pk, "username": "alice"}],
            "count": 1,
        }
    ]
    assert set(AnnouncedPresence.objects.values_list("user_id", flat=True)) == {bob.pk}


def test_presence_flush_builds_no_model_instance(
    lobby, alice, bob, published, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(
        "chat.presence_batcher.batcher.mark_threadsafe", lambda keys: None
    )
    cap = django_capture_on_commit_callbacks
    open_socket("a1", alice)
    open_socket("b1", bob)
    flush(published, cap)
    close_socket("b1")

    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"a {type(self).__name__} instance was built")

    # It runs for every room whose sockets came or went: plain SQL and tuples only.
    for model in (Room, AnnouncedPresence, get_user_model()):
        monkeypatch.setattr(model, "__init__", refuse)
    assert [f["leaves"] for f in flush(published, cap)] == [
        [{"id": bob.pk, "username": "bob"}]
    ]
    monkeypatch.undo()
    assert list(AnnouncedPresence.objects.values_list("user_id", flat=True)) == [
        alice.pk
    ]
    assert Room.objects.get(pk=lobby.pk).presence_flushed_at is not None


def test_a_user_who_joins_and_leaves_within_one_batch_is_in_neither_list(
    lobby, alice, bob, published, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(
        "chat.presence_batcher.batcher.mark_threadsafe", lambda keys: None
    )
    cap = django_capture_on_commit_callbacks
    open_socket("a1", alice)
    open_socket("b1", bob)
    close_socket("b1")
    assert flush(published, cap) == [
        {
            "type": "presence",
            "joins": [{"id": alice.pk, "username": "alice"}],
            "leaves": [],
            "count": 1,
        }
    ]


def test_presence_frames_of_a_room_are_at_least_an_interval_apart(
    lobby, alice, bob, published, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(
        "chat.presence_batcher.batcher.mark_threadsafe", lambda keys: None
    )
    cap = django_capture_on_commit_callbacks
    open_socket("a1", alice)
    assert len(flush(published, cap, interval=60)) == 1
    open_socket("b1", bob)
    published.clear()
    with cap(execute=True):
        deferred = services.presence_flush(room_keys=["lobby"], interval=60)
    assert published == [] and 59 < deferred["lobby"] <= 60
    # Whoever flushes after the interval announces everything since, once.
    assert [f["joins"] for f in flush(published, cap, interval=0)] == [
        [{"id": bob.pk, "username": "bob"}]
    ]


def test_closing_a_socket_flushes_presence_without_a_serving_loop(
    lobby, alice, published, django_capture_on_commit_callbacks
):
    open_socket("a1", alice)
    flush(published, django_capture_on_commit_callbacks)
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        close_socket("a1")
    assert [f for f in published.frames() if f["type"] == "presence"] == [
        {
            "type": "presence",
            "joins": [],
            "leaves": [{"id": alice.pk, "username": "alice"}],
            "count": 0,
        }
    ]


def test_sweeping_a_dead_process_announces_its_users_leaving(
    lobby, alice, bob, published, django_capture_on_commit_callbacks
):
    open_socket("a1", alice, process="dead")
    open_socket("b1", bob, process="alive")
    flush(published, django_capture_on_commit_callbacks)
    from realtime.registry.models import ServerProcess

    ServerProcess.objects.filter(id="dead").update(lease_until="2000-01-01T00:00:00Z")
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        ws_services.processes_sweep(exclude="alive")
    assert [f for f in published.frames() if f["type"] == "presence"] == [
        {
            "type": "presence",
            "joins": [],
            "leaves": [{"id": alice.pk, "username": "alice"}],
            "count": 1,
        }
    ]


def test_stale_rooms_are_those_whose_announced_presence_drifted(
    lobby,
    secret,
    alice,
    bob,
    published,
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    monkeypatch.setattr(
        "chat.presence_batcher.batcher.mark_threadsafe", lambda keys: None
    )
    open_socket("a1", alice, "lobby")
    open_socket("b1", alice, "secret")
    flush(published, django_capture_on_commit_callbacks, "lobby", "secret")
    assert selectors.presence_stale_rooms() == []
    close_socket("a1")  # a leave nobody flushed
    open_socket("b2", bob, "secret")  # a join nobody flushed
    assert selectors.presence_stale_rooms() == ["lobby", "secret"]


def test_online_summaries_count_distinct_users_and_list_at_most_the_limit(
    lobby, alice, bob, carol
):
    open_socket("a1", alice)
    open_socket("a2", alice)
    open_socket("b1", bob)
    open_socket("c1", carol, "elsewhere")
    online, count = selectors.online_summaries(room_slugs=["lobby"], limit=1)["lobby"]
    assert count == 2 and online == [{"id": alice.pk, "username": "alice"}]
