"""Message search: the selector on SQLite and PostgreSQL, the index's triggers, the API."""

from __future__ import annotations

import importlib
import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from chat import search, selectors, services
from chat.models import Message, Room
from chat.tests import search_probe
from tests import harness
from tests.rest import api_error

PROBE = Path(search_probe.__file__)


@pytest.mark.django_db
def test_search_finds_by_prefix_accent_and_case_only_readable_live_messages_on_sqlite():
    result = search_probe.run()
    assert result["vendor"] == "sqlite"
    search_probe.check(result)


def test_search_finds_by_prefix_accent_and_case_only_readable_live_messages_on_postgresql(
    pg_database,
):
    env = harness.base_env(DATABASE_URL=pg_database)
    harness.migrate(env)
    result = harness.run_probe(PROBE, env)
    assert result["vendor"] == "postgresql"
    search_probe.check(result)


# --- the index: triggers, migration -----------------------------------------------------


@pytest.mark.django_db
def test_migrated_sqlite_schema_has_the_index_and_its_three_triggers():
    # A later migration that rebuilds chat_message on SQLite would drop the triggers
    # silently, and search would stop seeing new messages: this fails instead.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT type, name FROM sqlite_master WHERE name LIKE 'chat_message_fts%'"
            " AND type IN ('table', 'trigger')"
        )
        found = set(cursor.fetchall())
    assert {
        ("table", "chat_message_fts"),
        ("trigger", "chat_message_fts_ai"),
        ("trigger", "chat_message_fts_ad"),
        ("trigger", "chat_message_fts_au"),
    } <= found
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger'"
            " AND name LIKE 'chat_message_fts%'"
        )
        assert {row[0] for row in cursor.fetchall()} == {"chat_message"}


@pytest.mark.django_db(transaction=True)
def test_search_migration_indexes_existing_messages_and_reverses_on_sqlite(alice):
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("chat", "0004_messages_change")], [("chat", "0005_search")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        room = old.get_model("chat", "Room").objects.create(slug="old", name="Old")
        message = old.get_model("chat", "Message")
        message.objects.create(room=room, user_id=alice.pk, seq=1, body="Écluse")
        message.objects.create(
            room=room, user_id=alice.pk, seq=2, body="ecluse gone", deleted=True
        )
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        frames, more = search.messages_search(user=alice, terms=["ecl"])
        assert [f["body"] for f in frames] == ["Écluse"] and not more
        executor = MigrationExecutor(connection)
        executor.migrate(before)
        assert "chat_message_fts" not in connection.introspection.table_names()
    finally:
        # Leave the schema as the next test expects it: every migration applied.
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_search_migration_reverses_and_reapplies_on_postgresql(pg_database):
    env = harness.base_env(DATABASE_URL=pg_database)
    harness.migrate(env)
    harness.manage(env, "migrate", "chat", "0004", "--noinput", "-v0")
    harness.manage(env, "migrate", "chat", "--noinput", "-v0")
    search_probe.check(harness.run_probe(PROBE, env))


@pytest.mark.django_db
@given(q=st.text(max_size=40))
@settings(max_examples=150, derandomize=True, deadline=None, database=None)
def test_any_query_text_is_a_400_or_results_never_an_error_on_sqlite(q):
    # FTS5 parses the MATCH expression whatever the rows: an empty index proves it.
    try:
        terms = search.search_terms(q)
    except search.SearchQueryError:
        return
    user = type("User", (), {"pk": 0})()
    frames, more = search.messages_search(user=user, terms=terms, limit=5)
    assert frames == [] and more is False


# --- REST -------------------------------------------------------------------------------


def client_for(user: Any | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def said(lobby, secret, alice, bob, carol):
    """Messages in a public room, alice's private room, carol's, and two direct rooms."""
    carols = services.room_create(slug="carols", is_private=True, owner=carol)
    dm_ab, _ = services.direct_room_get_or_create(user=alice, other=bob)
    dm_bc, _ = services.direct_room_get_or_create(user=bob, other=carol)
    for room, user, body in [
        (lobby, bob, "Le café est prêt"),
        (lobby, alice, "cafeteria at noon"),
        (secret, alice, "café in secret"),
        (carols, carol, "café chez carol"),
        (dm_ab, bob, "café, alice?"),
        (dm_bc, carol, "café, bob?"),
    ]:
        services.message_create(room=room, user=user, body=body)
    return {"dm_ab": dm_ab.slug}


@pytest.mark.django_db
def test_search_needs_authentication():
    api_error(
        client_for(None).get("/api/search/", {"q": "cafe"}), 401, "not_authenticated"
    )
    api_error(
        client_for(None).get("/api/rooms/lobby/search/", {"q": "cafe"}),
        401,
        "not_authenticated",
    )


@pytest.mark.django_db
def test_search_everywhere_finds_only_rooms_the_user_may_read(said, alice):
    response = client_for(alice).get("/api/search/", {"q": "CAFE"})
    assert response.status_code == 200, response.content
    page = response.json()
    assert page["has_more"] is False
    found = {(m["room"], m["body"]) for m in page["results"]}
    assert found == {
        ("lobby", "Le café est prêt"),
        ("lobby", "cafeteria at noon"),
        ("secret", "café in secret"),
        (said["dm_ab"], "café, alice?"),
    }
    first = page["results"][0]
    assert first["type"] == "message" and set(first) >= {
        "id",
        "seq",
        "room",
        "user",
        "body",
        "ts",
    }


@pytest.mark.django_db
def test_search_in_a_room_stays_in_it(said, alice):
    page = client_for(alice).get("/api/rooms/secret/search/", {"q": "caf"}).json()
    assert [m["body"] for m in page["results"]] == ["café in secret"]


@pytest.mark.django_db
def test_search_in_a_room_off_the_whitelist_is_403_and_no_room_404(said, bob):
    api_error(
        client_for(bob).get("/api/rooms/secret/search/", {"q": "caf"}),
        403,
        "permission_denied",
    )
    api_error(
        client_for(bob).get("/api/rooms/nowhere/search/", {"q": "caf"}),
        404,
        "not_found",
    )


@pytest.mark.django_db
def test_search_pages_with_limit_and_offset(lobby, alice):
    for n in range(5):
        services.message_create(room=lobby, user=alice, body=f"page {n}")
    client = client_for(alice)
    first = client.get("/api/search/", {"q": "page", "limit": "2"}).json()
    assert [m["body"] for m in first["results"]] == ["page 4", "page 3"]
    assert first["has_more"] is True
    last = client.get("/api/search/", {"q": "page", "limit": "2", "offset": "4"}).json()
    assert [m["body"] for m in last["results"]] == ["page 0"]
    assert last["has_more"] is False


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": ""},
        {"q": "*"},
        {"q": '"'},
        {"q": "☕"},
        {"q": "-- ()"},
        {"q": "x" * 201},
        {"q": " ".join(f"w{n}" for n in range(11))},
        {"q": "a\x00b"},
        {"q": "cafe", "limit": "51"},
        {"q": "cafe", "limit": "0"},
        {"q": "cafe", "limit": "5.0"},
        {"q": "cafe", "offset": "-1"},
        {"q": "cafe", "offset": "1001"},
    ],
)
def test_unsearchable_query_or_bad_page_is_a_400_naming_the_field(params, alice):
    response = client_for(alice).get("/api/search/", params)
    errors = api_error(response, 400, "invalid")
    assert set(errors) <= {"q", "limit", "offset"} and errors


@pytest.mark.django_db
@pytest.mark.parametrize("q", search_probe.HOSTILE)
def test_hostile_query_is_a_400_or_results(q, said, alice):
    for path in ("/api/search/", "/api/rooms/lobby/search/"):
        response = client_for(alice).get(path, {"q": q})
        if response.status_code != 200:
            api_error(response, 400, "invalid")
        else:
            assert isinstance(response.json()["results"], list)


@pytest.mark.django_db(transaction=True)
def test_bench_search_quick_run_prints_timings_and_leaves_nothing():
    out = io.StringIO()
    call_command("bench_search", "--quick", stdout=out)
    text = out.getvalue()
    assert re.search(r"sqlite: 2000 messages in 100 rooms .* p95 [\d.]+ ms", text)
    assert "/api/rooms/<slug>/search/?q=cafe: p50" in text
    assert not Message.objects.exists() and not Room.objects.exists()


class RefusingCursor:
    """A cursor on a server where CREATE EXTENSION is refused (no privilege)."""

    def __init__(self) -> None:
        self.executed: list[str] = []

    def execute(self, statement: str) -> None:
        self.executed.append(statement)
        if statement.startswith("CREATE EXTENSION"):
            raise RuntimeError("permission denied to create extension")

    def fetchone(self) -> None:
        raise AssertionError("nothing to fetch after a refusal")


def test_without_the_unaccent_extension_search_folds_case_only():
    migration = importlib.import_module("chat.migrations.0005_search")
    cursor = RefusingCursor()
    assert migration._unaccent_schema(cursor) is None
    assert cursor.executed[-1] == "ROLLBACK TO SAVEPOINT chat_search_unaccent"
    assert migration.fold_body(None, str) == "lower($1)"
    quoted = migration.fold_body("my'schema", lambda n: f'"{n}"')
    assert quoted == (
        """lower("my'schema".unaccent('"my''schema".unaccent'::regdictionary, $1))"""
    )


@pytest.mark.django_db
def test_a_result_is_the_message_as_it_is_now_reactions_and_reply_included(
    lobby, alice, bob, django_assert_max_num_queries
):
    asked, _ = services.message_create(room=lobby, user=alice, body="lunch?")
    answer, _ = services.message_create(
        room=lobby, user=bob, body="lunch at noon", reply_to=asked.pk
    )
    services.reaction_toggle(message=answer, user=alice, emoji="ok")
    services.message_edit(message=asked, user=alice, body="lunch today?")
    with django_assert_max_num_queries(8):
        page = client_for(alice).get("/api/search/", {"q": "lunch"}).json()
    by_id = {m["id"]: m for m in page["results"]}
    assert by_id[answer.pk] == selectors.message_state(room=lobby, message_id=answer.pk)
    assert by_id[answer.pk]["reactions"][0]["users"] == [alice.pk]
    assert by_id[answer.pk]["reply_to"]["id"] == asked.pk


@pytest.mark.django_db
def test_a_room_id_is_never_a_word_of_its_messages(lobby, alice):
    # The SQLite index holds each message's room id (for searches in one room): it is
    # searched for the room, never as a word of the body.
    services.message_create(room=lobby, user=alice, body="nothing numeric here")
    answer = client_for(alice).get("/api/search/", {"q": str(lobby.pk)}).json()
    assert answer["results"] == []
    inside = client_for(alice).get("/api/rooms/lobby/search/", {"q": "numeric"}).json()
    assert [m["body"] for m in inside["results"]] == ["nothing numeric here"]
