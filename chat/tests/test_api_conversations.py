"""REST of conversations: /api/dms/, join and leave, /api/me/rooms/, read pointers."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from chat import services
from chat.services.conversations import direct_room_get_or_create
from tests.rest import api_error

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_direct_room_is_created_once_and_found_from_the_other_side(alice, bob):
    first = client_for(alice).post("/api/dms/", {"username": "bob"}, format="json")
    again = client_for(bob).post("/api/dms/", {"username": "alice"}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["slug"] == again.json()["slug"]
    assert first.json()["kind"] == "direct"


def test_a_direct_room_needs_an_existing_other_user(alice):
    client = client_for(alice)
    assert "username" in api_error(
        client.post("/api/dms/", {"username": "nobody"}, format="json"), 400, "invalid"
    )
    assert "username" in api_error(
        client.post("/api/dms/", {"username": "alice"}, format="json"), 400, "invalid"
    )
    api_error(
        client.post("/api/dms/", {"username": "bob", "x": 1}, format="json"),
        400,
        "invalid",
    )


def test_a_direct_room_is_never_shown_to_others(alice, bob, carol):
    room, _ = direct_room_get_or_create(user=alice, other=bob)
    client = client_for(carol)
    listed = client.get("/api/rooms/").json()["results"]
    assert room.slug not in [r["slug"] for r in listed]
    api_error(client.get(f"/api/rooms/{room.slug}/"), 403, "permission_denied")
    api_error(client.get(f"/api/rooms/{room.slug}/messages/"), 403, "permission_denied")


def test_members_endpoints_answer_403_for_a_direct_room(alice, bob):
    room, _ = direct_room_get_or_create(user=alice, other=bob)
    client = client_for(alice)
    url = f"/api/rooms/{room.slug}/members/"
    api_error(client.get(url), 403, "permission_denied")
    api_error(
        client.post(url, {"username": "bob"}, format="json"), 403, "permission_denied"
    )
    api_error(
        client.delete(url, {"username": "bob"}, format="json"), 403, "permission_denied"
    )


def test_join_and_leave_change_my_rooms(lobby, bob):
    client = client_for(bob)
    assert client.post("/api/rooms/lobby/join/").status_code == 204
    assert [r["slug"] for r in client.get("/api/me/rooms/").json()["results"]] == [
        "lobby"
    ]
    assert client.post("/api/rooms/lobby/leave/").status_code == 204
    assert client.get("/api/me/rooms/").json()["results"] == []


def test_join_refuses_private_rooms_and_outsiders(secret, alice, bob):
    api_error(client_for(bob).post("/api/rooms/secret/join/"), 403, "permission_denied")
    api_error(
        client_for(alice).post("/api/rooms/secret/join/"), 403, "permission_denied"
    )
    api_error(client_for(bob).post("/api/rooms/nope/join/"), 404, "not_found")


def test_my_rooms_entries_carry_counts_and_the_last_message(lobby, alice, bob):
    client_for(bob).post("/api/rooms/lobby/join/")
    services.message_create(room=lobby, user=alice, body="hi @bob")
    services.message_create(room=lobby, user=alice, body="and more")
    page = client_for(bob).get("/api/me/rooms/?limit=1").json()
    assert page["count"] == 1
    (entry,) = page["results"]
    assert {k: v for k, v in entry.items() if k != "last_message"} == {
        "slug": "lobby",
        "name": "Lobby",
        "kind": "public",
        "peer": None,
        "last_seq": 2,
        "last_read_seq": 0,
        "unread": 2,
        "mentions": 1,
    }
    assert entry["last_message"]["body"] == "and more"
    api_error(client_for(bob).get("/api/me/rooms/?limit=500"), 400, "invalid")


def test_read_moves_the_pointer_forward_only(lobby, alice, bob):
    for _ in range(3):
        services.message_create(room=lobby, user=alice, body="x")
    client = client_for(bob)
    response = client.post("/api/rooms/lobby/read/", {"seq": 2}, format="json")
    assert response.status_code == 200
    assert response.json() == {"room": "lobby", "seq": 2, "unread": 1}
    back = client.post("/api/rooms/lobby/read/", {"seq": 1}, format="json")
    assert back.json()["seq"] == 2
    past = client.post("/api/rooms/lobby/read/", {"seq": 10**6}, format="json")
    assert past.json() == {"room": "lobby", "seq": 3, "unread": 0}


def test_read_input_is_strict(lobby, bob, secret):
    client = client_for(bob)
    for body in ({"seq": "2"}, {"seq": -1}, {}, {"seq": 1, "extra": True}):
        api_error(
            client.post("/api/rooms/lobby/read/", body, format="json"), 400, "invalid"
        )
    api_error(
        client.post("/api/rooms/secret/read/", {"seq": 1}, format="json"),
        403,
        "permission_denied",
    )


def test_room_objects_carry_their_kind(lobby, alice):
    assert client_for(alice).get("/api/rooms/lobby/").json()["kind"] == "public"


def test_conversations_need_a_user():
    for method, url in (
        ("get", "/api/me/rooms/"),
        ("post", "/api/dms/"),
        ("post", "/api/rooms/lobby/read/"),
    ):
        response = getattr(APIClient(), method)(url)
        assert response.status_code == 401


def test_a_direct_room_page_is_named_by_the_other_person(alice, bob, client):
    room, _ = direct_room_get_or_create(user=alice, other=bob)
    client.force_login(bob)
    page = client.get(f"/rooms/{room.slug}/").content.decode()
    assert "<span data-room-name>alice</span>" in page
    assert 'placeholder="Message @alice"' in page
    client.force_login(alice)
    assert (
        "<span data-room-name>bob</span>"
        in client.get(f"/rooms/{room.slug}/").content.decode()
    )
