"""The chat REST API (PROTOCOL.md section 2) with DRF's test client."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.test import APIClient

from chat import services
from chat.api.common import drf_error
from chat.models import Membership, Message, Room
from chat.topics import ROUTE, chat_room_group
from realtime.registry import services as ws_services
from realtime.socket.closecodes import CloseCode
from tests.rest import api_error

pytestmark = pytest.mark.django_db


def client_for(user: Any | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def post_many(room: Any, user: Any, count: int) -> None:
    for n in range(count):
        services.message_create(room=room, user=user, body=f"m{n + 1}")


# --- rooms -------------------------------------------------------------------------------


def test_room_list_shows_public_rooms_and_private_ones_whitelisting_the_user(
    lobby, secret, alice, bob
):
    services.room_create(slug="hidden", is_private=True)
    bob_sees = client_for(bob).get("/api/rooms/").json()
    assert [r["slug"] for r in bob_sees["results"]] == ["lobby"]
    alice_sees = client_for(alice).get("/api/rooms/").json()
    assert [r["slug"] for r in alice_sees["results"]] == ["lobby", "secret"]
    assert alice_sees["results"][1] == {
        "slug": "secret",
        "name": "Secret",
        "is_private": True,
        "kind": "private",
        "owner": {"id": alice.pk, "username": "alice"},
        "created": alice_sees["results"][1]["created"],
        "last_seq": 0,
        "topic": "",
        "archived": None,
    }


def test_creating_a_room_makes_the_creator_its_owner_and_member(bob):
    response = client_for(bob).post(
        "/api/rooms/",
        {"slug": "bobs", "name": "Bob's", "is_private": True},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["owner"] == {"id": bob.pk, "username": "bob"}
    assert Membership.objects.filter(room__slug="bobs", user=bob).exists()


@pytest.mark.parametrize("body", [{"slug": "lobby"}, {"slug": "no spaces"}, {}])
def test_creating_a_room_with_a_bad_or_taken_slug_is_a_400_with_field_errors(
    lobby, bob, body
):
    response = client_for(bob).post("/api/rooms/", body, format="json")
    assert "slug" in api_error(response, 400, "invalid")


def test_room_detail_is_404_for_no_such_room_and_403_for_a_private_one(secret, bob):
    client = client_for(bob)
    missing = client.get("/api/rooms/nope/")
    api_error(missing, 404, "not_found")
    assert missing.json()["detail"] == "No such room."
    api_error(client.get("/api/rooms/secret/"), 403, "permission_denied")
    assert client_for(bob).get("/api/rooms/secret/messages/").status_code == 403
    assert (
        client_for(bob).post("/api/rooms/secret/messages/", {"body": "x"}).status_code
        == 403
    )
    assert client_for(bob).get("/api/rooms/secret/presence/").status_code == 403


def test_the_owner_renames_a_room_and_makes_it_private_with_patch(
    lobby, alice, bob, published, django_capture_on_commit_callbacks
):
    ws_services.connection_open(
        connection_id="b1",
        process_id="p",
        user_id=bob.pk,
        route=ROUTE,
        room_key="lobby",
        max_per_user=0,
        lease_seconds=30,
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(alice).patch(
            "/api/rooms/lobby/", {"name": "Hall", "is_private": True}, format="json"
        )
    assert response.status_code == 200
    assert response.json()["name"] == "Hall" and response.json()["is_private"] is True
    room = Room.objects.get(slug="lobby")
    assert (room.name, room.is_private) == ("Hall", True)
    # bob is not on the whitelist: his socket in the room closes 4403
    assert published.closes() == [
        (chat_room_group(lobby.pk), CloseCode.FORBIDDEN, bob.pk)
    ]
    renamed_only = client_for(alice).patch(
        "/api/rooms/lobby/", {"name": "Hall 2"}, format="json"
    )
    assert renamed_only.json()["is_private"] is True


@pytest.mark.parametrize(
    "body, field",
    [
        ({"is_private": "yes"}, "is_private"),
        ({"name": 5}, "name"),
        ({"name": ""}, "name"),
        ({"slug": "other"}, "slug"),
        ({"owner": 1}, "owner"),
    ],
)
def test_a_room_change_of_the_wrong_shape_is_a_400(lobby, alice, body, field):
    response = client_for(alice).patch("/api/rooms/lobby/", body, format="json")
    assert field in api_error(response, 400, "invalid")
    room = Room.objects.get(slug="lobby")
    assert (room.name, room.is_private) == ("Lobby", False)


def test_only_the_owner_changes_a_room(lobby, secret, bob, make_user):
    staff = make_user("root", is_staff=True)
    for who in (bob, staff):
        response = client_for(who).patch(
            "/api/rooms/lobby/", {"is_private": True}, format="json"
        )
        api_error(response, 403, "permission_denied")
    api_error(
        client_for(bob).patch("/api/rooms/secret/", {"name": "x"}, format="json"),
        403,
        "permission_denied",
    )
    api_error(
        client_for(bob).patch("/api/rooms/nope/", {"name": "x"}, format="json"),
        404,
        "not_found",
    )
    assert not Room.objects.get(slug="lobby").is_private


def test_the_owner_or_staff_delete_a_room_and_its_sockets_close_4404(
    lobby, secret, alice, bob, make_user, published, django_capture_on_commit_callbacks
):
    services.message_create(room=lobby, user=alice, body="x")
    api_error(client_for(bob).delete("/api/rooms/lobby/"), 403, "permission_denied")
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(alice).delete("/api/rooms/lobby/").status_code == 204
    assert not Room.objects.filter(slug="lobby").exists()
    assert not Message.objects.exists()
    assert published.closes() == [
        (chat_room_group(lobby.pk), CloseCode.NOT_FOUND, None)
    ]
    # Staff delete any room, a private one they are not on included.
    staff = make_user("root", is_staff=True)
    assert client_for(staff).delete("/api/rooms/secret/").status_code == 204
    api_error(client_for(staff).delete("/api/rooms/secret/"), 404, "not_found")


def test_anonymous_requests_are_refused_with_json(lobby):
    response = client_for(None).get("/api/rooms/lobby/")
    api_error(response, 401, "not_authenticated")


# --- messages ---------------------------------------------------------------------------


def test_messages_page_forward_with_after_and_limit(lobby, alice):
    post_many(lobby, alice, 10)
    body = client_for(alice).get("/api/rooms/lobby/messages/?after=3&limit=4").json()
    assert [m["seq"] for m in body["results"]] == [4, 5, 6, 7] and body[
        "has_more"
    ] is True
    body = client_for(alice).get("/api/rooms/lobby/messages/?after=7&limit=4").json()
    assert [m["seq"] for m in body["results"]] == [8, 9, 10] and body[
        "has_more"
    ] is False


def test_messages_page_back_with_before(lobby, alice):
    post_many(lobby, alice, 10)
    body = client_for(alice).get("/api/rooms/lobby/messages/?before=6&limit=3").json()
    assert [m["seq"] for m in body["results"]] == [3, 4, 5] and body["has_more"] is True
    body = client_for(alice).get("/api/rooms/lobby/messages/?before=3&limit=3").json()
    assert [m["seq"] for m in body["results"]] == [1, 2] and body["has_more"] is False


def test_messages_without_a_cursor_are_the_newest_ascending(lobby, alice):
    post_many(lobby, alice, 5)
    body = client_for(alice).get("/api/rooms/lobby/messages/?limit=2").json()
    assert [m["seq"] for m in body["results"]] == [4, 5]


def test_messages_limit_over_200_is_a_400_never_cut(lobby, alice):
    post_many(lobby, alice, 205)
    client = client_for(alice)
    body = client.get("/api/rooms/lobby/messages/?after=0&limit=200").json()
    assert len(body["results"]) == 200 and body["has_more"] is True
    refused = client.get("/api/rooms/lobby/messages/?after=0&limit=201")
    assert "limit" in api_error(refused, 400, "invalid")


@pytest.mark.parametrize(
    "query",
    ["after=x", "limit=0", "before=-1", "after=-2", "limit=5.0", "limit=+5", "after="],
)
def test_bad_paging_parameters_are_a_400(lobby, alice, query):
    response = client_for(alice).get(f"/api/rooms/lobby/messages/?{query}")
    assert query.split("=")[0] in api_error(response, 400, "invalid")


@pytest.mark.parametrize("name", ["after", "before", "limit"])
def test_paging_parameters_past_64_bits_are_a_400_not_a_database_crash(
    lobby, alice, name
):
    # SQLite raised OverflowError binding them: a 500.
    huge = 99999999999999999999
    response = client_for(alice).get(f"/api/rooms/lobby/messages/?{name}={huge}")
    assert name in api_error(response, 400, "invalid")
    top = 2**63 - 1 if name != "limit" else 200
    ok = client_for(alice).get(f"/api/rooms/lobby/messages/?{name}={top}")
    assert ok.status_code == 200


@pytest.mark.parametrize("slug", ["%00", "a%00b", "x" * 65, "no.dots", "%C3%A9t%C3%A9"])
def test_a_room_path_no_room_can_have_is_a_404_without_a_query(
    alice, slug, django_assert_num_queries
):
    # A NUL reached PostgreSQL, which refuses it in text: a 500 there.
    client = client_for(alice)
    with django_assert_num_queries(0):
        response = client.get(f"/api/rooms/{slug}/messages/")
    api_error(response, 404, "not_found")


@pytest.mark.parametrize(
    "body, field, error",
    [
        ({"slug": "new", "name": 5}, "name", "Expected a string."),
        ({"slug": 5}, "slug", "Expected a string."),
        ({"slug": "new", "is_private": "true"}, "is_private", "Expected a boolean."),
        ({"slug": "new", "is_private": 1}, "is_private", "Expected a boolean."),
        ({"slug": "new", "colour": "red"}, "colour", "Unknown field."),
        ({"slug": "new", "owner": 1}, "owner", "This field is read-only."),
    ],
)
def test_room_input_is_never_coerced_nor_dropped(bob, body, field, error):
    response = client_for(bob).post("/api/rooms/", body, format="json")
    assert api_error(response, 400, "invalid") == {field: [error]}
    assert not Room.objects.filter(slug="new").exists()


def test_posting_a_message_stores_it_and_publishes_the_socket_frame_after_commit(
    lobby, alice, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(alice).post(
            "/api/rooms/lobby/messages/",
            {"body": " hi ", "client_id": "r1"},
            format="json",
        )
    assert response.status_code == 201
    body = response.json()
    assert body["seq"] == 1 and body["body"] == "hi" and body["type"] == "message"
    assert published.frames(chat_room_group(lobby.pk)) == [body]


def test_posting_the_same_client_id_and_body_again_returns_the_original_with_200(
    lobby, alice
):
    client = client_for(alice)
    first = client.post(
        "/api/rooms/lobby/messages/", {"body": "a", "client_id": "r1"}, format="json"
    )
    again = client.post(
        "/api/rooms/lobby/messages/", {"body": "a", "client_id": "r1"}, format="json"
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Message.objects.count() == 1


def test_the_same_client_id_with_another_body_is_a_409_conflict(lobby, alice):
    client = client_for(alice)
    client.post(
        "/api/rooms/lobby/messages/", {"body": "a", "client_id": "r1"}, format="json"
    )
    other = client.post(
        "/api/rooms/lobby/messages/", {"body": "b", "client_id": "r1"}, format="json"
    )
    api_error(other, 409, "conflict")
    assert "Idempotent-Replayed" not in other
    assert list(Message.objects.values_list("body", flat=True)) == ["a"]


def test_the_idempotency_key_header_is_the_client_id_alias(lobby, alice):
    client = client_for(alice)
    path = "/api/rooms/lobby/messages/"
    first = client.post(path, {"body": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == 201 and first.json()["client_id"] == "k1"
    by_body = client.post(path, {"body": "a", "client_id": "k1"}, format="json")
    assert by_body.status_code == 200 and by_body["Idempotent-Replayed"] == "true"
    again = client.post(path, {"body": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert again.status_code == 200 and again.json() == first.json()
    other = client.post(path, {"body": "b"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    api_error(other, 409, "conflict")
    assert Message.objects.count() == 1


@pytest.mark.parametrize(
    "body, key",
    [({"body": "a", "client_id": "k1"}, "k2"), ({"body": "a"}, "k" * 65)],
    ids=["differs-from-client_id", "too-long"],
)
def test_a_bad_idempotency_key_is_a_400(lobby, alice, body, key):
    response = client_for(alice).post(
        "/api/rooms/lobby/messages/", body, format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    api_error(response, 400, "invalid")
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"body": "   "},
        {"body": "x" * 4001},
        {"body": "x", "client_id": "c" * 65},
        {"body": "a\x00b"},
        {"body": "x", "client_id": "\x00"},
        {"body": 5},
        {"body": ["x"]},
        {"body": "x", "client_id": 7},
        {"body": "x", "seq": 1},
        {"body": "x", "is_staff": True},
    ],
)
def test_posting_a_bad_message_is_a_400_with_field_errors(lobby, alice, body):
    response = client_for(alice).post("/api/rooms/lobby/messages/", body, format="json")
    fields = api_error(response, 400, "invalid")
    assert fields and set(fields) <= {"body", "client_id", "seq", "is_staff"}
    assert not Message.objects.exists()


def test_a_client_id_is_opaque_as_on_the_socket(lobby, alice):
    body = {"body": "x", "client_id": " spaced "}
    response = client_for(alice).post("/api/rooms/lobby/messages/", body, format="json")
    assert response.status_code == 201
    assert response.json()["client_id"] == " spaced "


# --- members ------------------------------------------------------------------------------


def test_the_owner_adds_and_removes_members(
    secret, alice, bob, published, django_capture_on_commit_callbacks
):
    owner = client_for(alice)
    assert (
        owner.post(
            "/api/rooms/secret/members/", {"username": "bob"}, format="json"
        ).status_code
        == 201
    )
    assert (
        owner.post(
            "/api/rooms/secret/members/", {"username": "bob"}, format="json"
        ).status_code
        == 200
    )
    listed = client_for(bob).get("/api/rooms/secret/members/").json()
    assert [u["username"] for u in listed["results"]] == ["alice", "bob"]
    with django_capture_on_commit_callbacks(execute=True):
        removed = owner.delete(
            "/api/rooms/secret/members/", {"username": "bob"}, format="json"
        )
    assert removed.status_code == 204
    assert not Membership.objects.filter(room=secret, user=bob).exists()
    assert published.closes() == [
        (chat_room_group(secret.pk), CloseCode.FORBIDDEN, bob.pk)
    ]


def test_members_can_be_removed_by_query_parameter(secret, alice, bob):
    services.membership_grant(room=secret, user=bob)
    response = client_for(alice).delete("/api/rooms/secret/members/?username=bob")
    assert response.status_code == 204
    assert not Membership.objects.filter(room=secret, user=bob).exists()


def test_a_member_named_in_both_body_and_query_is_a_400(secret, alice, bob):
    services.membership_grant(room=secret, user=bob)
    response = client_for(alice).delete(
        f"/api/rooms/secret/members/?username={'x' * 200}",
        {"username": "bob"},
        format="json",
    )
    assert "username" in api_error(response, 400, "invalid")
    empty_body = client_for(alice).delete(
        "/api/rooms/secret/members/?username=bob", {}, format="json"
    )
    assert "username" in api_error(empty_body, 400, "invalid")
    assert Membership.objects.filter(room=secret, user=bob).exists()


def test_only_the_owner_manages_the_whitelist(secret, alice, bob, carol):
    services.membership_grant(room=secret, user=bob)
    member = client_for(bob)
    assert (
        member.post(
            "/api/rooms/secret/members/", {"username": "carol"}, format="json"
        ).status_code
        == 403
    )
    assert (
        member.delete(
            "/api/rooms/secret/members/", {"username": "alice"}, format="json"
        ).status_code
        == 403
    )
    assert client_for(carol).get("/api/rooms/secret/members/").status_code == 403


def test_member_changes_name_a_real_user_and_spare_the_owner(secret, alice):
    owner = client_for(alice)
    missing = owner.post(
        "/api/rooms/secret/members/", {"username": "ghost"}, format="json"
    )
    assert "username" in api_error(missing, 400, "invalid")
    itself = owner.delete(
        "/api/rooms/secret/members/", {"username": "alice"}, format="json"
    )
    assert "username" in api_error(itself, 400, "invalid")


# --- presence -------------------------------------------------------------------------------


def test_presence_lists_each_online_user_once_paginated(lobby, alice, bob, carol):
    for conn, user, slug in [
        ("a1", alice, "lobby"),
        ("a2", alice, "lobby"),
        ("b1", bob, "lobby"),
        ("c1", carol, "other"),
    ]:
        ws_services.connection_open(
            connection_id=conn,
            process_id="p",
            user_id=user.pk,
            route=ROUTE,
            room_key=slug,
            max_per_user=0,
            lease_seconds=30,
        )
    body = client_for(carol).get("/api/rooms/lobby/presence/").json()
    assert body["count"] == 2
    assert body["results"] == [
        {"id": alice.pk, "username": "alice"},
        {"id": bob.pk, "username": "bob"},
    ]


@pytest.mark.parametrize("body", [{"username": 5}, {"username": "bob", "role": "x"}])
def test_a_whitelist_change_of_the_wrong_shape_is_a_400(secret, alice, bob, body):
    response = client_for(alice).post("/api/rooms/secret/members/", body, format="json")
    assert response.status_code == 400
    assert not Membership.objects.filter(room=secret, user=bob).exists()


@pytest.mark.parametrize("path", ["/api/rooms/", "/api/auth/register/"])
def test_json_nested_too_deep_is_a_400_not_a_crash(bob, path):
    # The json module raises RecursionError, not ValueError: that was a 500.
    deep = "[" * 100_000 + "]" * 100_000
    response = client_for(bob).post(path, deep, content_type="application/json")
    api_error(response, 400, "parse_error")
    assert response.json()["detail"].startswith("JSON parse error")


@pytest.mark.parametrize("path", ["/api/rooms/", "/api/auth/register/"])
def test_a_json_body_over_the_upload_limit_is_a_413(bob, settings, path):
    # DRF let Django's RequestDataTooBig out of the view: a 500.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    body = {"slug": "big", "name": "x" * 200}
    response = client_for(bob).post(path, body, format="json")
    api_error(response, 413, "invalid")
    assert response.json()["detail"] == "Request body too large."
    assert not Room.objects.filter(slug="big").exists()


def test_a_service_error_without_fields_is_still_an_object():
    error = drf_error(DjangoValidationError("the room is gone"))
    assert error.detail == {"non_field_errors": ["the room is gone"]}


def test_unknown_api_paths_answer_json(alice):
    response = client_for(alice).get("/api/rooms/lobby/nothing-here/")
    api_error(response, 404, "not_found")


# --- API_WRITE_THROTTLE --------------------------------------------------------------------


@pytest.fixture
def writes(settings):
    """API_WRITE_THROTTLE of 4 writes a minute per user, counted from nothing."""
    settings.API_WRITE_THROTTLE = "4/min"
    settings.CACHES = {  # a cache of this test's own: the counts start from nothing
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"chat-api-writes-{uuid.uuid4().hex}",
        }
    }
    return 4


def test_rest_writes_past_api_write_throttle_are_429_with_retry_after(
    writes, lobby, alice, bob
):
    client = client_for(alice)
    done = [
        client.post("/api/rooms/lobby/messages/", {"body": "one"}, format="json"),
        client.post("/api/rooms/", {"slug": "mine"}, format="json"),
        client.post("/api/rooms/mine/members/", {"username": "bob"}, format="json"),
        client.delete("/api/rooms/mine/members/?username=bob"),
    ]
    assert [r.status_code for r in done] == [201, 201, 201, 204]
    for refused in (
        client.post("/api/rooms/lobby/messages/", {"body": "two"}, format="json"),
        client.post("/api/rooms/", {"slug": "another"}, format="json"),
        client.post("/api/rooms/mine/members/", {"username": "bob"}, format="json"),
    ):
        api_error(refused, 429, "throttled")
        assert "throttled" in refused.json()["detail"]
        assert 1 <= int(refused["Retry-After"]) <= 60
    assert Message.objects.filter(body="two").count() == 0
    # Reads never count, and the limit is the user's own.
    assert client.get("/api/rooms/lobby/messages/").status_code == 200
    assert client.get("/api/rooms/").status_code == 200
    other = client_for(bob).post(
        "/api/rooms/lobby/messages/", {"body": "mine"}, format="json"
    )
    assert other.status_code == 201


def test_an_empty_api_write_throttle_turns_it_off(writes, settings, lobby, alice):
    settings.API_WRITE_THROTTLE = ""
    client = client_for(alice)
    for n in range(writes + 3):
        response = client.post(
            "/api/rooms/lobby/messages/", {"body": f"m{n}"}, format="json"
        )
        assert response.status_code == 201
