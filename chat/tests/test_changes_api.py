"""REST for messages that change: one message, edit, delete, versions, reactions,
changes, replies (PROTOCOL.md 10), with the project's one error shape."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from chat import services
from chat.models import Message, Room
from tests.rest import api_error

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def post(room: Room, user: Any, body: str = "hi", **kw: Any) -> Message:
    message, _ = services.message_create(room=room, user=user, body=body, **kw)
    return message


def url(message: Message, tail: str = "") -> str:
    return f"/api/rooms/{message.room.slug}/messages/{message.pk}/{tail}"


def test_get_one_message_gives_its_current_state(lobby, alice, bob):
    message = post(lobby, alice)
    services.reaction_toggle(message=message, user=bob, emoji="+1")
    answer = client_for(bob).get(url(message))
    assert answer.status_code == 200
    body = answer.json()
    assert body["id"] == message.pk and body["rev"] == 1
    assert body["reactions"] == [{"emoji": "+1", "count": 1, "users": [bob.pk]}]


@pytest.mark.parametrize("message_id", ["999999", str(2**63), str(10**30)])
def test_a_message_not_in_the_room_is_404(lobby, alice, message_id):
    answer = client_for(alice).get(f"/api/rooms/lobby/messages/{message_id}/")
    api_error(answer, 404, "not_found")


def test_a_message_of_another_room_is_404_there(lobby, alice):
    other = services.room_create(slug="other", name="Other")
    message = post(other, alice)
    answer = client_for(alice).get(f"/api/rooms/lobby/messages/{message.pk}/")
    assert answer.status_code == 404


def test_a_private_rooms_message_is_403_to_a_stranger(secret, alice, bob):
    message = post(secret, alice)
    assert client_for(bob).get(url(message)).status_code == 403
    assert client_for(bob).patch(url(message), {"body": "x"}).status_code == 403


def test_patch_edits_and_answers_the_new_state(lobby, alice):
    message = post(lobby, alice, "helo")
    answer = client_for(alice).patch(url(message), {"body": "hello"}, format="json")
    assert answer.status_code == 200
    assert answer.json()["body"] == "hello" and answer.json()["edited"]


def test_patch_by_another_user_is_403(lobby, alice, bob):
    message = post(lobby, alice)
    answer = client_for(bob).patch(url(message), {"body": "x"}, format="json")
    api_error(answer, 403, "permission_denied")


@pytest.mark.parametrize(
    "data", [{"body": "  "}, {"body": 5}, {}, {"body": "x", "user": 1}]
)
def test_a_bad_edit_is_400_invalid(lobby, alice, data):
    message = post(lobby, alice)
    answer = client_for(alice).patch(url(message), data, format="json")
    api_error(answer, 400, "invalid")


def test_editing_a_deleted_message_is_400_naming_id(lobby, alice):
    message = post(lobby, alice)
    services.message_delete(message=message)
    answer = client_for(alice).patch(url(message), {"body": "x"}, format="json")
    assert "id" in api_error(answer, 400, "invalid")


def test_delete_leaves_a_tombstone(lobby, alice):
    message = post(lobby, alice, "oops")
    answer = client_for(alice).delete(url(message))
    assert answer.status_code == 200
    assert answer.json()["deleted"] is True and answer.json()["body"] == ""
    assert Message.objects.get(pk=message.pk).seq == message.seq
    page = client_for(alice).get("/api/rooms/lobby/messages/").json()
    assert page["results"][0]["deleted"] is True


def test_delete_by_the_room_owner_passes_by_a_stranger_is_403(lobby, alice, bob, carol):
    message = post(lobby, bob)
    assert client_for(carol).delete(url(message)).status_code == 403
    assert client_for(alice).delete(url(message)).status_code == 200


def test_versions_to_the_author_owner_and_staff_only(lobby, alice, bob, carol):
    message = post(lobby, bob, "one")
    services.message_edit(message=message, user=bob, body="two")
    staff = type(alice).objects.create_user(username="root", is_staff=True)
    for user in (bob, alice, staff):
        answer = client_for(user).get(url(message, "versions/"))
        assert answer.status_code == 200
        [version] = answer.json()["results"]
        assert version["body"] == "one" and version["ts"] and version["replaced"]
    answer = client_for(carol).get(url(message, "versions/"))
    assert answer.status_code == 403


def test_post_and_delete_a_reaction(lobby, alice, bob):
    message = post(lobby, alice)
    client = client_for(bob)
    answer = client.post(url(message, "reactions/"), {"emoji": "+1"}, format="json")
    assert answer.status_code == 200
    assert answer.json()["reactions"][0]["users"] == [bob.pk]
    again = client.post(url(message, "reactions/"), {"emoji": "+1"}, format="json")
    assert again.json()["reactions"][0]["count"] == 1  # a set, not a toggle
    gone = client.delete(url(message, "reactions/"), {"emoji": "+1"}, format="json")
    assert gone.status_code == 200 and gone.json()["reactions"] == []


@pytest.mark.parametrize("emoji", ["", "a b", "x" * 17, 5])
def test_a_bad_emoji_is_400(lobby, alice, emoji):
    message = post(lobby, alice)
    answer = client_for(alice).post(
        url(message, "reactions/"), {"emoji": emoji}, format="json"
    )
    assert "emoji" in api_error(answer, 400, "invalid")


def test_the_21st_distinct_emoji_is_400(lobby, alice):
    message = post(lobby, alice)
    for n in range(20):
        services.reaction_toggle(message=message, user=alice, emoji=f"e{n}")
    answer = client_for(alice).post(
        url(message, "reactions/"), {"emoji": "e20"}, format="json"
    )
    assert "emoji" in api_error(answer, 400, "invalid")


def test_changes_pages_by_rev(lobby, alice):
    messages = [post(lobby, alice, f"m{n}") for n in range(3)]
    for message in reversed(messages):
        services.message_edit(message=message, user=alice, body="e")
    client = client_for(alice)
    first = client.get("/api/rooms/lobby/changes/?rev=0&limit=2").json()
    assert [m["seq"] for m in first["results"]] == [3, 2] and first["has_more"]
    last_rev = first["results"][-1]["rev"]
    rest = client.get(f"/api/rooms/lobby/changes/?rev={last_rev}&limit=2").json()
    assert [m["seq"] for m in rest["results"]] == [1] and not rest["has_more"]


@pytest.mark.parametrize("query", ["", "?rev=", "?rev=-1", "?rev=x", "?rev=0&limit=0"])
def test_changes_without_a_good_rev_is_400(lobby, alice, query):
    answer = client_for(alice).get(f"/api/rooms/lobby/changes/{query}")
    api_error(answer, 400, "invalid")


def test_a_rest_post_may_answer_a_message_of_the_room(lobby, alice, bob):
    question = post(lobby, alice, "q")
    answer = client_for(bob).post(
        "/api/rooms/lobby/messages/",
        {"body": "a", "reply_to": question.pk},
        format="json",
    )
    assert answer.status_code == 201
    assert answer.json()["reply_to"]["id"] == question.pk
    other = services.room_create(slug="other", name="Other")
    elsewhere = post(other, alice)
    refused = client_for(bob).post(
        "/api/rooms/lobby/messages/",
        {"body": "a", "reply_to": elsewhere.pk},
        format="json",
    )
    assert "reply_to" in api_error(refused, 400, "invalid")


def test_a_resend_of_a_message_edited_since_replays_its_current_state(lobby, alice):
    client = client_for(alice)
    data = {"body": "helo", "client_id": "c-1"}
    first = client.post("/api/rooms/lobby/messages/", data, format="json").json()
    message = Message.objects.get(pk=first["id"])
    services.message_edit(message=message, user=alice, body="hello")
    again = client.post("/api/rooms/lobby/messages/", data, format="json")
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json()["body"] == "hello" and again.json()["rev"] == 1
    other = {"body": "another", "client_id": "c-1"}
    api_error(
        client.post("/api/rooms/lobby/messages/", other, format="json"), 409, "conflict"
    )


@pytest.mark.parametrize(
    ("method", "tail", "data"),
    [
        ("get", "", None),
        ("patch", "", {"body": "x"}),
        ("delete", "", None),
        ("get", "versions/", None),
        ("post", "reactions/", {"emoji": "ok"}),
        ("delete", "reactions/", {"emoji": "ok"}),
    ],
)
def test_an_anonymous_client_gets_401_and_changes_nothing(
    lobby, alice, method, tail, data
):
    message = post(lobby, alice, "hi")
    answer = getattr(APIClient(), method)(url(message, tail), data, format="json")
    api_error(answer, 401, "not_authenticated")
    assert Message.objects.get(pk=message.pk).rev == 0
    changes = APIClient().get("/api/rooms/lobby/changes/", {"rev": 0})
    api_error(changes, 401, "not_authenticated")


def test_staff_off_a_private_rooms_whitelist_may_not_change_its_messages(secret, alice):
    # Staff moderate (delete, read versions) where they may read; a private room they
    # are not on refuses them like anyone else: a 403, never a 5xx.
    message = post(secret, alice, "hi")
    staff = type(alice).objects.create_user(username="root2", is_staff=True)
    for method, tail, data in [
        ("patch", "", {"body": "x"}),
        ("post", "reactions/", {"emoji": "ok"}),
    ]:
        answer = getattr(client_for(staff), method)(
            url(message, tail), data, format="json"
        )
        assert answer.status_code == 403, answer.content
    assert Message.objects.get(pk=message.pk).rev == 0
