"""`/api/asyncapi.json` and `/api/asyncapi/`: the socket contract built from the frame
schemas, checked against the code, against real frames, and by the AsyncAPI parser."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from django.conf import settings

from chat.schemas import (
    activity_frame,
    message_frame,
    message_updated_frame,
    presence_frame,
    read_frame,
    typing_frame,
    welcome_frame,
)
from notifications.schemas import (
    NotificationEncoder,
    notification_frame,
    unread_frame,
)
from realtime import routing  # noqa: F401  (registers the routes)
from realtime.socket import asyncapi, frames, routes

TOOLS = Path(settings.BASE_DIR) / "tools" / "asyncapi"
ERROR = 0


def build(**kwargs: Any) -> dict[str, Any]:
    return asyncapi.document(routes.published(), **kwargs)


def payload_validator(doc: dict[str, Any], channel: str, key: str) -> Any:
    """A JSON schema validator of one channel message's payload, refs resolved in doc."""
    ref = doc["channels"][channel]["messages"][key]["$ref"].rsplit("/", 1)[1]
    payload = doc["components"]["messages"][ref]["payload"]
    return jsonschema.Draft202012Validator({**payload, "components": doc["components"]})


# --- the document against the code ---------------------------------------------------------


def test_every_published_route_is_a_channel_at_its_address():
    doc = build()
    published = routes.published()
    assert [r.address for r in published] == [
        "/ws/chat/{slug}/",
        "/ws/echo/",
        "/ws/notify/user/{user_id}/",
    ]
    by_address = {c["address"]: c for c in doc["channels"].values()}
    for route in published:
        channel = by_address[route.address]
        assert set(channel.get("parameters", {})) == set(route.param_names)


def test_every_frame_each_json_route_takes_and_sends_is_a_message():
    doc = build()
    found = asyncapi.frame_types(doc)
    for route in routes.published():
        consumer = route.consumer
        if not consumer.json_only:
            continue
        inbound, _ = consumer._dispatch()
        want = {(consumer.route, "client", kind) for kind in inbound}
        want |= {(consumer.route, "server", k) for k in consumer.outbound_schemas()}
        mine = {f for f in found if f[0] == consumer.route}
        assert mine == want


def test_operations_send_what_the_server_sends_and_receive_what_clients_send():
    doc = build()
    send = doc["operations"]["chat.send"]
    assert send["action"] == "send"
    keys = {m["$ref"].rsplit("/", 1)[1] for m in send["messages"]}
    assert {"server.welcome", "server.message", "server.error"} <= keys
    assert all(k.startswith("server.") for k in keys)
    receive = doc["operations"]["notify.receive"]
    assert {m["$ref"].rsplit("/", 1)[1] for m in receive["messages"]} == {
        "client.read",
        "client.heartbeat",
        "client.auth",
    }
    assert "security" in send and "security" not in doc["operations"]["echo.send"]


def test_the_chat_channel_publishes_its_since_rev_and_token_query_parameters():
    query = build()["channels"]["chat"]["bindings"]["ws"]["query"]["properties"]
    assert set(query) == {"since", "rev", "token"}
    assert query["since"]["pattern"] == "^[0-9]{1,18}$"
    assert query["rev"]["pattern"] == "^[0-9]{1,18}$"


def test_close_and_error_codes_are_listed():
    doc = build()
    assert doc["x-close-codes"]["4401"] == "AUTH_EXPIRED"
    assert "invalid" in doc["x-error-codes"]


# --- the document against real frames --------------------------------------------------------


class _Row:
    """A stored message as message_frame() reads it."""

    id, seq, user_id, body, client_id = 3, 7, 1, "hi", None
    created = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    rev, edited, deleted, reply_to_id = 0, None, False, None

    class user:  # noqa: N801
        username = "alice"

    class room:  # noqa: N801
        slug = "lobby"


WHEN = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
NOTIFICATION = {
    "id": 9,
    "title": "t",
    "body": "b",
    "level": "info",
    "link": "/rooms/lobby/",
    "created": WHEN,
    "read": False,
}
REAL_FRAMES = [
    ("chat", "server.message", message_frame(_Row)),
    (
        "chat",
        "server.welcome",
        welcome_frame(
            room_slug="lobby",
            user={"id": 1, "username": "alice"},
            connection_id="c",
            heartbeat_interval=25,
            online=[{"id": 1, "username": "alice"}],
            online_count=1,
            history=[message_frame(_Row)],
            complete=True,
            rev=4,
            changes=[
                message_frame(
                    _Row, reactions=[{"emoji": "+1", "count": 2, "users": [1, 2]}]
                )
            ],
        ),
    ),
    (
        "chat",
        "server.message_updated",
        message_updated_frame(message_frame(_Row)),
    ),
    (
        "chat",
        "server.presence",
        presence_frame(joins=[{"id": 1, "username": "a"}], leaves=[], count=1),
    ),
    ("chat", "server.auth", orjson.loads(frames.auth_frame(1_900_000_000.5))),
    (
        "chat",
        "server.error",
        orjson.loads(frames.error_frame("invalid", "x", {"since": "bad"})),
    ),
    ("notify", "server.notification", notification_frame(**NOTIFICATION)),
    (
        "notify",
        "server.notification",
        orjson.loads(
            NotificationEncoder(
                title="t", body="b", level="error", link="", created=WHEN
            ).encode(4)
        ),
    ),
    ("notify", "server.unread", unread_frame(3)),
    ("chat", "server.read", read_frame(room_slug="lobby", seq=7, unread=2)),
    ("notify", "server.read", read_frame(room_slug="lobby", seq=7, unread=0)),
    ("notify", "server.activity", activity_frame(_Row, room_slug="lobby")),
    ("chat", "client.read", {"type": "read", "seq": 7}),
    ("notify", "client.read", {"type": "read", "all": True}),
    ("chat", "client.message", {"type": "message", "body": "hi", "client_id": "x"}),
    ("chat", "client.message", {"type": "message", "body": "hi", "reply_to": 3}),
    ("chat", "client.edit", {"type": "edit", "id": 3, "body": "hi"}),
    ("chat", "client.delete", {"type": "delete", "id": 3}),
    ("chat", "client.react", {"type": "react", "id": 3, "emoji": "+1"}),
    ("chat", "server.typing", typing_frame(users=[{"id": 1, "username": "alice"}])),
    ("chat", "server.typing", typing_frame(users=[])),
    ("chat", "client.typing", {"type": "typing"}),
]


@pytest.mark.parametrize(("channel", "key", "frame"), REAL_FRAMES)
def test_frames_the_server_builds_keep_the_published_payload_schema(
    channel, key, frame
):
    payload_validator(build(), channel, key).validate(frame)


@pytest.mark.parametrize(
    ("channel", "key", "frame"),
    [
        ("notify", "server.unread", {"type": "unread", "count": 1}),  # no `unread`
        ("chat", "server.auth", {"type": "auth", "exp": "2030-01-01T00:00:00Z"}),
        ("chat", "client.message", {"type": "message", "body": "x", "is_staff": 1}),
        ("chat", "client.typing", {"type": "typing", "room": "lobby"}),
        ("chat", "server.typing", {"type": "typing", "users": [{"id": 1}]}),
    ],
)
def test_a_frame_off_the_contract_fails_the_published_schema(channel, key, frame):
    assert list(payload_validator(build(), channel, key).iter_errors(frame))


# --- served -------------------------------------------------------------------------------------


def test_the_document_is_served_to_anyone_as_cacheable_json(client):
    response = client.get("/api/asyncapi.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "public" in response["Cache-Control"]
    assert "max-age=" in response["Cache-Control"]
    doc = response.json()
    assert doc["asyncapi"] == "3.0.0"
    assert doc["servers"]["this"] == {
        "host": "testserver",
        "protocol": "ws",
        "description": "The server that served this document.",
    }
    again = client.get("/api/asyncapi.json", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304 and again.content == b""


def test_the_document_names_wss_behind_https(client):
    response = client.get("/api/asyncapi.json", secure=True)
    assert response.json()["servers"]["this"]["protocol"] == "wss"


def test_writing_to_the_document_is_405_json(client):
    response = client.post("/api/asyncapi.json")
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"


def test_the_page_lists_every_route_and_frame_without_a_cdn(client):
    response = client.get("/api/asyncapi/")
    assert response.status_code == 200
    page = response.content.decode()
    for route in routes.published():
        assert route.address in page
    for channel, direction, kind in asyncapi.frame_types(build()):
        assert f'id="{channel}-{direction}-{kind}"' in page
    assert "http://" not in page.replace("http://testserver", "")
    assert "https://" not in page


# --- the AsyncAPI parser ---------------------------------------------------------------------------


def test_the_asyncapi_parser_finds_no_error_in_the_document(tmp_path):
    """@asyncapi/parser (tools/asyncapi, installed by `make test`) parses the document
    with no error, and does find the error planted in a broken copy: one node start."""
    node = shutil.which("node")
    parser = TOOLS / "node_modules" / "@asyncapi" / "parser"
    if node is None or not parser.is_dir():
        pytest.fail(
            "the AsyncAPI parser is not installed: run `make asyncapi-deps` "
            "(npm ci --prefix tools/asyncapi)",
            pytrace=False,
        )
    doc = build(host="127.0.0.1:8000")
    good = tmp_path / "asyncapi.json"
    good.write_text(json.dumps(doc))
    broken = json.loads(json.dumps(doc))
    broken["components"]["schemas"]["UserOut"]["properties"]["id"]["type"] = "int"
    bad = tmp_path / "broken.json"
    bad.write_text(json.dumps(broken))

    done = subprocess.run(
        [node, str(TOOLS / "validate.mjs"), str(good), str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    errors = {
        str(path): [
            d
            for d in lines
            if d.get("file") == str(path) and d.get("severity") == ERROR
        ]
        for path in (good, bad)
    }
    assert {"file": str(good), "parsed": True} in lines, done.stderr
    assert errors[str(good)] == []
    assert errors[str(bad)], "the parser did not see the planted error"
    assert done.returncode == 1  # because of the broken copy
