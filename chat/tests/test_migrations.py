"""The conversations migration gives existing rooms their kind and readers a pointer."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("chat", "0001_initial")]
AFTER = [("chat", "0003_conversations_data")]


@pytest.mark.django_db(transaction=True)
def test_existing_rooms_get_their_kind_and_history_is_read():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    # The users' app stays migrated: the current model makes them.
    alice = get_user_model().objects.create_user(username="alice")
    bob = get_user_model().objects.create_user(username="bob")
    room_model = old.get_model("chat", "Room")
    lobby = room_model.objects.create(slug="lobby", name="Lobby", last_seq=2)
    secret = room_model.objects.create(
        slug="secret", name="Secret", is_private=True, last_seq=0
    )
    message = old.get_model("chat", "Message")
    message.objects.create(room=lobby, user_id=alice.pk, seq=1, body="a")
    message.objects.create(room=lobby, user_id=bob.pk, seq=2, body="b")
    old.get_model("chat", "Membership").objects.create(room=secret, user_id=bob.pk)

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    rooms = dict(new.get_model("chat", "Room").objects.values_list("slug", "kind"))
    assert rooms == {"lobby": "public", "secret": "private"}
    joined = set(
        new.get_model("chat", "Joined").objects.values_list(
            "room__slug", "user__username"
        )
    )
    assert joined == {("lobby", "alice"), ("lobby", "bob")}
    pointers = set(
        new.get_model("chat", "ReadPointer").objects.values_list(
            "room__slug", "user__username", "seq"
        )
    )
    assert pointers == {
        ("lobby", "alice", 2),
        ("lobby", "bob", 2),
        ("secret", "bob", 0),
    }
    # Leave the schema as the next test expects it: every migration applied.
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
