"""The server API: Api-Key authentication and scopes, publish, notify, disconnect."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import caches
from rest_framework.test import APIClient

from accounts.throttling import counters
from chat import services as chat_services
from chat.models import Message
from chat.topics import chat_room_group
from integrations import services
from integrations.models import ApiKey
from notifications.models import Notification
from realtime.fanout.topics import user_topic
from realtime.socket.closecodes import CloseCode

pytestmark = pytest.mark.django_db

PUBLISH = "/api/server/publish/"
NOTIFY = "/api/server/notify/"
DISCONNECT = "/api/server/disconnect/"


def call(path: str, body: Any, key: str | None = None, **headers: str) -> Any:
    client = APIClient()
    if key is not None:
        headers.setdefault("HTTP_AUTHORIZATION", f"Api-Key {key}")
    return client.post(path, body, format="json", **headers)


# --- authentication and scopes -------------------------------------------------------------


@pytest.mark.parametrize("path", [PUBLISH, NOTIFY, DISCONNECT])
def test_no_key_is_401_with_www_authenticate(path):
    response = call(path, {})
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Api-Key")
    assert "detail" in response.json()


@pytest.mark.parametrize(
    "authorization",
    [
        "Api-Key rtk_000000000000AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "Api-Key nonsense",
        "Api-Key",
        "Api-Key a b",
        "api-key " + "x" * 5000,
    ],
)
def test_a_bad_key_is_401(authorization, lobby):
    response = call(
        PUBLISH, {"room": "lobby", "body": "x"}, HTTP_AUTHORIZATION=authorization
    )
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Api-Key")


def test_a_revoked_key_is_401(api_key, lobby):
    key = api_key("publish")
    services.api_key_revoke(key_ids=ApiKey.objects.values_list("pk", flat=True))
    assert call(PUBLISH, {"room": "lobby", "body": "x"}, key).status_code == 401


def test_a_users_jwt_is_no_api_key(alice, lobby):
    from chat.tests.conftest import token_for

    response = call(
        PUBLISH,
        {"room": "lobby", "body": "x"},
        HTTP_AUTHORIZATION=f"Bearer {token_for(alice)}",
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    "path,scope",
    [(PUBLISH, "publish"), (NOTIFY, "notify"), (DISCONNECT, "disconnect")],
)
def test_a_key_without_the_scope_is_403(api_key, path, scope):
    others = [s for s in ("publish", "notify", "disconnect") if s != scope]
    response = call(path, {}, api_key(*others))
    assert response.status_code == 403
    assert scope in response.json()["detail"]


def test_each_use_is_counted(api_key, lobby):
    key = api_key("publish")
    call(PUBLISH, {"room": "lobby", "body": "a"}, key)
    call(PUBLISH, {"room": "lobby", "body": "b"}, key)
    row = ApiKey.objects.get()
    assert row.use_count == 2 and row.last_used_at is not None


def test_the_throttle_counts_per_key(api_key, lobby, settings):
    settings.API_SERVER_THROTTLE = "2/min"
    caches["default"].clear()
    counters._local.clear()
    one, two = api_key("publish"), api_key("publish")
    codes = [
        call(PUBLISH, {"room": "lobby", "body": "x"}, one).status_code for _ in range(3)
    ]
    assert codes == [201, 201, 429]
    assert call(PUBLISH, {"room": "lobby", "body": "x"}, two).status_code == 201
    caches["default"].clear()
    counters._local.clear()


# --- publish -----------------------------------------------------------------------------


def test_publish_as_a_user_stores_and_delivers_the_message(
    api_key, lobby, alice, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = call(
            PUBLISH, {"room": "lobby", "body": " hi ", "username": "alice"}, api_key()
        )
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "type": "message",
        "id": body["id"],
        "seq": 1,
        "room": "lobby",
        "user": {"id": alice.pk, "username": "alice"},
        "body": "hi",
        "ts": body["ts"],
        "client_id": None,
        "rev": 0,
        "edited": None,
        "deleted": False,
        "reactions": [],
        "reply_to": None,
    }
    assert published.frames(chat_room_group(lobby.pk)) == [body]
    assert Message.objects.get().user == alice


def test_publish_without_a_username_is_a_system_message(
    api_key, lobby, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = call(
            PUBLISH, {"room": "lobby", "body": "maintenance at 5"}, api_key()
        )
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "type": "system",
        "body": "maintenance at 5",
        "ts": body["ts"],
        "room": "lobby",
    }
    assert published.frames(chat_room_group(lobby.pk)) == [
        {"type": "system", "body": "maintenance at 5", "ts": body["ts"]}
    ]
    assert not Message.objects.exists()


def test_a_resend_answers_the_original_and_another_body_is_409(api_key, lobby, alice):
    key = api_key()
    send = {"room": "lobby", "body": "once", "username": "alice", "client_id": "c-1"}
    first = call(PUBLISH, send, key)
    again = call(PUBLISH, send, key)
    assert first.status_code == 201 and again.status_code == 200
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    conflict = call(PUBLISH, {**send, "body": "twice"}, key)
    assert conflict.status_code == 409
    assert Message.objects.count() == 1


def test_a_resend_of_a_message_edited_since_answers_it_as_it_is_now(
    api_key, lobby, alice
):
    key = api_key()
    send = {"room": "lobby", "body": "once", "username": "alice", "client_id": "c-9"}
    first = call(PUBLISH, send, key)
    chat_services.message_edit(
        message=Message.objects.get(pk=first.json()["id"]), user=alice, body="fixed"
    )
    again = call(PUBLISH, send, key)  # matched against the body first posted
    assert again.status_code == 200
    assert again.json()["body"] == "fixed" and again.json()["rev"] == 1


def test_the_idempotency_key_header_is_client_ids_alias(api_key, lobby, alice):
    key = api_key()
    send = {"room": "lobby", "body": "once", "username": "alice"}
    first = call(PUBLISH, send, key, HTTP_IDEMPOTENCY_KEY="k-1")
    again = call(PUBLISH, {**send, "client_id": "k-1"}, key)
    assert first.json()["client_id"] == "k-1" and again.status_code == 200
    mismatch = call(
        PUBLISH, {**send, "client_id": "k-2"}, key, HTTP_IDEMPOTENCY_KEY="k-1"
    )
    # The same rule and answer as the REST send's (chat.api.messages.client_id_of).
    assert mismatch.status_code == 400 and "client_id" in mismatch.json()["errors"]


@pytest.mark.parametrize(
    "body,field",
    [
        ({"room": "lobby", "body": 5}, "body"),
        ({"room": "lobby", "body": "x", "username": 7}, "username"),
        (
            {"room": "lobby", "body": "x", "client_id": 7, "username": "alice"},
            "client_id",
        ),
        ({"room": ["lobby"], "body": "x"}, "room"),
        ({"room": "lobby", "body": "x", "is_staff": True}, "is_staff"),
        ({"room": "lobby", "body": "x", "seq": 9}, "seq"),
        ({"room": "lobby", "body": "   "}, "body"),
        ({"room": "lobby", "body": "x" * 5000}, "body"),
        ({"room": "lobby"}, "body"),
        ({"room": "../etc", "body": "x"}, "room"),
        ({"room": "lobby", "body": "x", "username": "nobody"}, "username"),
        ({"room": "lobby", "body": "x", "client_id": "c"}, "client_id"),
    ],
)
def test_publish_input_is_strict(api_key, lobby, alice, body, field):
    response = call(PUBLISH, body, api_key())
    assert response.status_code == 400, response.json()
    assert field in response.json() or field in response.json().get("errors", {})
    assert not Message.objects.exists()


def test_publish_to_no_such_room_is_404(api_key):
    assert call(PUBLISH, {"room": "nowhere", "body": "x"}, api_key()).status_code == 404


def test_publish_as_a_user_off_a_private_rooms_whitelist_is_403(api_key, secret, bob):
    response = call(
        PUBLISH, {"room": "secret", "body": "x", "username": "bob"}, api_key()
    )
    assert response.status_code == 403 and "whitelist" in response.json()["detail"]


def test_a_body_that_is_no_json_object_is_400(api_key):
    response = APIClient().post(
        PUBLISH,
        "[1,2]",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {api_key()}",
    )
    assert response.status_code == 400


# --- notify and disconnect ---------------------------------------------------------------


def test_notify_stores_and_pushes_to_each_user(
    api_key, alice, bob, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = call(
            NOTIFY,
            {
                "usernames": ["alice"],
                "user_ids": [bob.pk],
                "title": "Deploy",
                "body": "done",
                "level": "success",
                "link": "/rooms/lobby/",
            },
            api_key("notify"),
        )
    assert response.status_code == 201 and response.json() == {"count": 2}
    assert set(Notification.objects.values_list("user__username", "level")) == {
        ("alice", "success"),
        ("bob", "success"),
    }
    assert {f["title"] for f in published.frames()} == {"Deploy"}


@pytest.mark.parametrize(
    "body",
    [
        {"usernames": ["nobody"], "title": "t"},
        {"usernames": "alice", "title": "t"},
        {"title": "t"},
        {"usernames": ["alice"], "title": "t", "level": "loud"},
        {"usernames": ["alice"], "title": "t", "extra": 1},
    ],
)
def test_notify_input_is_strict(api_key, alice, body):
    assert call(NOTIFY, body, api_key("notify")).status_code == 400
    assert not Notification.objects.exists()


def test_disconnect_closes_every_socket_of_the_user_with_4403(
    api_key, alice, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = call(DISCONNECT, {"username": "alice"}, api_key("disconnect"))
    assert response.status_code == 204
    assert published.closes() == [(user_topic(alice.pk), CloseCode.FORBIDDEN, alice.pk)]


@pytest.mark.parametrize("body", [{"username": "nobody"}, {"username": 5}, {}])
def test_disconnect_input_is_strict(api_key, alice, published, body):
    assert call(DISCONNECT, body, api_key("disconnect")).status_code == 400
    assert published.closes() == []


def test_the_schema_declares_the_server_api(client):
    schema = client.get("/api/schema/?format=json").json()
    for path in (PUBLISH, NOTIFY, DISCONNECT):
        operation = schema["paths"][path]["post"]
        assert operation["tags"] == ["server"]
        assert operation["security"] == [{"apiKeyAuth": []}]
        assert {"400", "401", "403", "429"} <= set(operation["responses"])
    assert schema["components"]["securitySchemes"]["apiKeyAuth"]["in"] == "header"
    publish = schema["paths"][PUBLISH]["post"]["responses"]
    assert {"200", "201", "404", "409"} <= set(publish)


def test_the_publish_answer_is_told_apart_by_its_type(client):
    schema = client.get("/api/schema/?format=json").json()
    published = schema["components"]["schemas"]["Published"]
    assert published["discriminator"]["mapping"] == {
        "message": "#/components/schemas/PublishedMessage",
        "system": "#/components/schemas/PublishedSystem",
    }
