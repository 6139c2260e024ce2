"""Hostile inputs and faults against a real server (the README's security section lists them).

Each test asserts the exact answer (HTTP status before accept, close code, error frame
code, JSON 4xx) and that the bystander's open sockets noticed nothing.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import time

import jwt
import pytest
from websockets.exceptions import ConnectionClosed

from tests import harness
from tests.support import (
    DEADLINE,
    Frames,
    PeakRss,
    chat,
    client_frame,
    close_code,
    echo_ok,
    heartbeat_ok,
    http_get,
    raw_handshake,
    read_close_code,
    recv_json,
    refused_status,
    sockets,
    wait_for,
    ws,
)

pytestmark = [pytest.mark.e2e]

LONG = "x" * 4001


def _attacker(hostile, users) -> Frames:
    conn, _ = chat(hostile, users["mallory"], "lobby")
    return Frames(conn)


# --- bad frames on an open chat socket: an error frame, the socket stays -------------------

BAD_FRAMES = [
    pytest.param('{"type":', "bad_json", id="malformed-json"),
    pytest.param("[1, 2, 3]", "bad_json", id="json-array"),
    pytest.param('"message"', "bad_json", id="json-string"),
    pytest.param("null", "bad_json", id="json-null"),
    pytest.param('{"body":"hi"}', "invalid", id="missing-type"),
    pytest.param('{"type":5,"body":"hi"}', "invalid", id="type-not-a-string"),
    pytest.param('{"type":"nope"}', "unknown_type", id="unknown-type"),
    pytest.param(
        '{"type":"websocket.disconnect","code":1000}',
        "unknown_type",
        id="type-websocket.disconnect",
    ),
    pytest.param(
        '{"type":"chat.message","body":"x"}', "unknown_type", id="type-chat.message"
    ),
    pytest.param('{"type":"_on_auth","token":"x"}', "unknown_type", id="type-_on_auth"),
    pytest.param('{"type":"__init__"}', "unknown_type", id="type-__init__"),
    pytest.param(
        '{"type":"hub.relay","topic":"user.1"}', "unknown_type", id="type-hub.relay"
    ),
    pytest.param('{"type":"message","body":5}', "invalid", id="body-not-a-string"),
    pytest.param(
        '{"type":"message","body":"hi","client_id":7}',
        "invalid",
        id="client_id-not-a-string",
    ),
    pytest.param(
        '{"type":"message","body":"hi","is_staff":true}', "invalid", id="extra-field"
    ),
    pytest.param('{"type":"heartbeat","x":1}', "invalid", id="heartbeat-extra-field"),
    pytest.param('{"type":"message","body":""}', "invalid", id="empty-body"),
    pytest.param('{"type":"message","body":"   \\n\\t "}', "invalid", id="blank-body"),
    pytest.param(
        json.dumps({"type": "message", "body": LONG}), "too_large", id="over-long-body"
    ),
    pytest.param(
        json.dumps({"type": "message", "body": "hi", "client_id": "c" * 65}),
        "invalid",
        id="over-long-client_id",
    ),
    pytest.param(
        '{"type":"auth","token":"not-a-jwt"}', "invalid", id="auth-frame-junk-token"
    ),
    pytest.param('{"type":"auth"}', "invalid", id="auth-frame-no-token"),
]


@pytest.mark.parametrize(("text", "code"), BAD_FRAMES)
def test_a_bad_frame_gets_an_error_frame_and_the_socket_stays(
    hostile, users, bystander, text, code
):
    attacker = _attacker(hostile, users)
    try:
        attacker.conn.send(text)
        error = attacker.until(lambda f: f.get("type") == "error")
        assert error["code"] == code, error
        assert not [
            f for f in attacker.seen if f.get("type") == "message"
        ]  # nothing stored
        assert heartbeat_ok(attacker.conn)
    finally:
        attacker.conn.close()
    bystander.undisturbed()


def test_a_token_for_another_user_in_an_auth_frame_is_refused(
    hostile, users, bystander
):
    attacker = _attacker(hostile, users)
    try:
        attacker.conn.send(json.dumps({"type": "auth", "token": users["carol"].access}))
        error = attacker.until(lambda f: f.get("type") == "error")
        assert error["code"] == "invalid" and "another user" in error["detail"]
        # Still mallory: a message goes out under her name, not carol's.
        attacker.conn.send(
            json.dumps({"type": "message", "body": "who am i", "client_id": "w-1"})
        )
        mine = attacker.until(
            lambda f: f.get("type") == "message" and f["body"] == "who am i"
        )
        assert mine["user"]["username"] == "mallory"
    finally:
        attacker.conn.close()
    bystander.undisturbed()


@pytest.mark.parametrize(
    ("keys", "listed"),
    [
        pytest.param({f"k{i}": 1 for i in range(3000)}, 5, id="3000-keys"),
        pytest.param({"x" * 30_000: 1}, 1, id="30000-char-key"),
    ],
)
def test_a_frame_of_unknown_keys_gets_a_small_error_frame(
    hostile, users, bystander, keys, listed
):
    attacker = _attacker(hostile, users)
    try:
        attacker.conn.send(json.dumps({"type": "message", "body": "hi", **keys}))
        raw = attacker.conn.recv(timeout=DEADLINE)
        while json.loads(raw).get("type") != "error":  # past presence frames
            raw = attacker.conn.recv(timeout=DEADLINE)
        error = json.loads(raw)
        assert error["code"] == "invalid" and len(error["errors"]) == listed
        assert all(len(field) <= 64 for field in error["errors"])
        if listed == 5:
            assert "2995 more not listed" in error["detail"]
        assert len(raw) < 600  # the frame was 30 KB; its answer used to be 150 KB
        assert heartbeat_ok(attacker.conn)
    finally:
        attacker.conn.close()
    bystander.undisturbed()


# --- faults that close the socket ----------------------------------------------------------


def test_an_oversized_frame_closes_1009(hostile, users, bystander):
    attacker = _attacker(hostile, users)
    attacker.conn.send("x" * (64 * 1024 + 1))
    assert close_code(attacker.conn) == 1009
    bystander.undisturbed()


def test_a_binary_frame_on_chat_closes_1003(hostile, users, bystander):
    attacker = _attacker(hostile, users)
    attacker.conn.send(b"\x00\x01binary")
    assert close_code(attacker.conn) == 1003
    bystander.undisturbed()


def test_invalid_utf8_in_a_text_frame_closes_1007(hostile, users, bystander):
    sock, head = raw_handshake(
        hostile.port, f"/ws/chat/lobby/?token={users['mallory'].access}"
    )
    try:
        assert head.startswith(b"HTTP/1.1 101"), head
        sock.sendall(client_frame(b'{"type":"message","body":"\xff\xfe"}', opcode=0x1))
        assert read_close_code(sock) == 1007
    finally:
        sock.close()
    bystander.undisturbed()


def test_too_many_invalid_frames_close_4400(hostile, users, bystander):
    attacker = _attacker(hostile, users)
    for _ in range(5):  # WS_MAX_INVALID_FRAMES
        attacker.conn.send('{"type":"nope"}')
    assert close_code(attacker.conn) == 4400
    assert len([f for f in attacker.seen if f.get("type") == "error"]) <= 5
    bystander.undisturbed()


def test_a_flood_gets_rate_limited_then_closes_4429(hostile, users, bystander):
    attacker = _attacker(hostile, users)
    with contextlib.suppress(ConnectionClosed):
        for _ in range(40):  # burst 10, then 5 refusals (WS_RATE_ABUSE_LIMIT) close it
            attacker.conn.send('{"type":"heartbeat"}')
    with pytest.raises(ConnectionClosed) as closed:
        attacker.until(lambda f: False)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
    codes = [f["code"] for f in attacker.seen if f.get("type") == "error"]
    assert codes == ["rate_limited"] * 4  # the fifth refusal is the close
    bystander.undisturbed()


def test_pings_from_a_client_that_never_reads_close_it_4503(hostile, users, bystander):
    sock, head = raw_handshake(
        hostile.port,
        f"/ws/chat/lobby/?token={users['mallory'].access}",
        rcvbuf=4096,
    )
    assert head.startswith(b"HTTP/1.1 101"), head
    pings = client_frame(b"p" * 125, opcode=0x9) * 500  # 65 KB of pings: 63 KB of pongs
    dropped = False
    with PeakRss(hostile.pid) as rss:
        try:
            for _ in range(600):  # 39 MB of pongs the server would hold
                sock.sendall(pings)
        except (ConnectionResetError, BrokenPipeError, TimeoutError):
            dropped = True
        try:  # the close frame, behind the pongs it did send; or the connection cut
            code = None if dropped else read_close_code(sock)
        except OSError:
            code = None
        finally:
            sock.close()
    # 4503, or None: the connection was dropped (while sending, or before the client,
    # slow on a busy machine, read as far as the close frame: WS_CLOSE_GRACE later).
    # A server that did neither makes read_close_code fail on its deadline.
    assert code in (4503, None), code
    assert rss.growth_mb < 15, f"server RSS grew {rss.growth_mb:.0f} MB"
    bystander.undisturbed()


def test_the_per_user_connection_cap_closes_4429(hostile, users, bystander):
    mallory = users["mallory"]
    opened = [
        chat(hostile, mallory, "lobby")[0] for _ in range(3)
    ]  # WS_MAX_CONNECTIONS_PER_USER
    try:
        extra = ws(f"{hostile.ws_url}/ws/chat/lobby/?token={mallory.access}")
        assert close_code(extra) == 4429  # after accept: the browser can tell why
        assert all(heartbeat_ok(c) for c in opened)
    finally:
        for c in opened:
            c.close()
    bystander.undisturbed()


# --- handshake refusals: HTTP 403 before accept ---------------------------------------------


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _bad_token(kind: str, users) -> str | None:
    mallory = users["mallory"]
    claims = _claims(mallory.access)
    if kind == "missing":
        return None
    if kind == "malformed":
        return "not.a.jwt"
    if kind == "expired":
        return jwt.encode(
            {**claims, "exp": int(time.time()) - 60}, harness.TEST_SECRET, "HS256"
        )
    if kind == "forged-signature":
        return jwt.encode({**claims}, "an attacker's key, not the server's", "HS256")
    if kind == "alg-none":
        return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    if kind == "refresh-as-access":
        return mallory.refresh
    if kind == "claims-other-user":  # carol's id in mallory's token, re-signed wrongly
        return jwt.encode(
            {**claims, "user_id": str(users["carol"].id)},
            "a guessed key, long enough for HS256 to take it",
            "HS256",
        )
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "missing",
        "malformed",
        "expired",
        "forged-signature",
        "alg-none",
        "refresh-as-access",
        "claims-other-user",
    ],
)
@pytest.mark.parametrize("where", ["query", "header"])
def test_a_bad_token_is_refused_with_403_before_accept(
    hostile, users, bystander, kind, where
):
    token = _bad_token(kind, users)
    if where == "query":
        url = f"{hostile.ws_url}/ws/chat/lobby/" + (f"?token={token}" if token else "")
        assert refused_status(url) == 403
    else:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        assert (
            refused_status(
                f"{hostile.ws_url}/ws/notify/user/{users['mallory'].id}/",
                headers=headers,
            )
            == 403
        )
    bystander.undisturbed()


def _shell(server, code: str) -> None:
    server.manage(
        "shell", "-c", "from django.contrib.auth import get_user_model as g; " + code
    )


def test_a_token_of_an_inactive_user_is_refused_with_403(hostile, users, bystander):
    user = hostile.api.user("ivan")
    _shell(hostile, f"g().objects.filter(pk={user.id}).update(is_active=False)")
    assert refused_status(f"{hostile.ws_url}/ws/chat/lobby/?token={user.access}") == 403
    bystander.undisturbed()


def test_a_token_of_a_deleted_user_is_refused_with_403(hostile, users, bystander):
    user = hostile.api.user("dora")
    _shell(hostile, f"g().objects.filter(pk={user.id}).delete()")
    assert refused_status(f"{hostile.ws_url}/ws/chat/lobby/?token={user.access}") == 403
    bystander.undisturbed()


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "null",
        "https://127.0.0.1.evil.example",
        "file://",
        "javascript:alert(1)",
    ],
)
def test_a_foreign_or_null_origin_is_refused_with_403(
    hostile, users, bystander, origin
):
    url = f"{hostile.ws_url}/ws/chat/lobby/?token={users['mallory'].access}"
    assert refused_status(url, headers={"Origin": origin}) == 403
    bystander.undisturbed()


@pytest.mark.parametrize(
    "origin",
    [
        "http://[::1",
        "https://[",
        "http://[not-an-ip]",
        "http://\u00ff\u00fe[",
        "http://" + "a" * 4000,
    ],
)
def test_a_malformed_origin_is_refused_with_403(hostile, users, bystander, origin):
    sock, head = raw_handshake(
        hostile.port,
        f"/ws/chat/lobby/?token={users['mallory'].access}",
        extra=f"Origin: {origin}\r\n",
    )
    sock.close()
    assert head.startswith(b"HTTP/1.1 403"), head
    bystander.undisturbed()


@pytest.mark.parametrize(
    ("path", "extra", "status"),
    [
        ("/ws/echo/?token=" + "a" * 9000, "", b"414"),  # request line over 8 KB
        ("/ws/echo/", "Cookie: sessionid=" + "a" * 9000 + "\r\n", b"431"),
        ("/ws/echo/?token=%ff%fe%zz%", "", b"403"),  # bad percent-encoding
        ("/ws/echo/\u00e9", "", b"400"),  # not ASCII
    ],
    ids=["long-request-line", "long-header-line", "bad-percent", "non-ascii-path"],
)
def test_an_unparsable_handshake_is_answered_and_closed(
    hostile, users, bystander, path, extra, status
):
    sock, head = raw_handshake(hostile.port, path, extra=extra)
    try:
        assert head.split(b" ")[1] == status, head
        # Closed, not left hanging: the rest of the answer, then the end.
        with _closed():
            while sock.recv(65536):
                pass
    finally:
        sock.close()
    bystander.undisturbed()


def test_anonymous_sockets_per_ip_are_capped_with_403(hostile, users, bystander):
    held = [ws(f"{hostile.ws_url}/ws/echo/") for _ in range(3)]
    with sockets(*held):
        assert refused_status(f"{hostile.ws_url}/ws/echo/") == 403
        # Signed in, the same address is let in; another address is not held back.
        signed = ws(f"{hostile.ws_url}/ws/echo/?token={users['mallory'].access}")
        with sockets(signed):
            assert echo_ok(signed)
        sock, head = raw_handshake(hostile.port, "/ws/echo/", source="127.0.0.2")
        sock.close()
        assert head.startswith(b"HTTP/1.1 101"), head
        assert all(echo_ok(conn) for conn in held)
        held[0].close()

        def reopen():
            sock, head = raw_handshake(hostile.port, "/ws/echo/")
            sock.close()
            return head.startswith(b"HTTP/1.1 101")

        wait_for(reopen, what="the place a closed anonymous socket freed")
    bystander.undisturbed()


def test_a_session_cookie_with_a_nul_is_no_session_on_postgresql(
    pg_database, server_factory, bystander
):
    # pg_database first: its drop comes after the server stopped (not under it).
    # Its own server: only PostgreSQL refuses a NUL in a query (SQLite finds no row).
    server = server_factory(DATABASE_URL=pg_database)
    cookie = 'Cookie: sessionid="\\000abcdefghijk"\r\n'
    sock, head = raw_handshake(server.port, "/ws/chat/lobby/", extra=cookie)
    sock.close()
    assert head.startswith(b"HTTP/1.1 403"), head  # no credentials: refused, no 500
    sock, head = raw_handshake(server.port, "/ws/echo/", extra=cookie)
    sock.close()
    assert head.startswith(b"HTTP/1.1 101"), head  # an anonymous echo socket
    assert "Traceback" not in server.log_text()
    bystander.undisturbed()


# --- authenticated, but not allowed there: a close after accept ------------------------------


@pytest.mark.parametrize(
    "path_id", ["other", "abc", "-1", "0", "1e3", "9" * 30, "%00", "1;2"]
)
def test_another_users_or_a_junk_notify_id_closes_4403(
    hostile, users, bystander, path_id
):
    target = str(users["carol"].id) if path_id == "other" else path_id
    conn = ws(
        f"{hostile.ws_url}/ws/notify/user/{target}/?token={users['mallory'].access}"
    )
    assert close_code(conn) == 4403
    bystander.undisturbed()


@pytest.mark.parametrize(
    "slug",
    [
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e",
        "lobby%00",
        "no-such-room",
        "a" * 300,
        "lobby%2F..%2Fsecret",
    ],
)
def test_path_traversal_or_unknown_room_slug_closes_4404(
    hostile, users, bystander, slug
):
    conn = ws(f"{hostile.ws_url}/ws/chat/{slug}/?token={users['mallory'].access}")
    assert close_code(conn) == 4404
    bystander.undisturbed()


def test_a_private_room_without_whitelist_closes_4403(hostile, users, bystander):
    conn = ws(f"{hostile.ws_url}/ws/chat/secret/?token={users['mallory'].access}")
    assert close_code(conn) == 4403
    bystander.undisturbed()


# --- HTTP-level faults -----------------------------------------------------------------------


def test_a_very_long_url_is_answered_431(hostile, users, bystander):
    sock = socket.create_connection(("127.0.0.1", hostile.port), timeout=DEADLINE)
    try:
        sock.sendall(
            f"GET /ws/chat/{'a' * 100_000}/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        )
        assert sock.recv(64).startswith(b"HTTP/1.1 431")
    finally:
        sock.close()
    bystander.undisturbed()


def test_a_plain_http_request_to_a_socket_path_is_404_and_to_an_api_path_json(
    hostile, users, bystander
):
    status, _ = http_get(f"{hostile.url}/ws/chat/lobby/")
    assert status == 404
    status, body = http_get(f"{hostile.url}/api/no-such-thing/")
    assert status == 404 and body == {"detail": "Not found.", "code": "not_found"}
    bystander.undisturbed()


@pytest.mark.parametrize(
    "path", ["/api/rooms/", "/healthz", "/admin/", "/ws/", "/ws/echo/../chat/lobby/"]
)
def test_a_websocket_to_an_http_path_is_refused_with_403(
    hostile, users, bystander, path
):
    assert (
        refused_status(f"{hostile.ws_url}{path}?token={users['mallory'].access}") == 403
    )
    bystander.undisturbed()


def test_a_slow_handshake_neither_blocks_others_nor_stays(hostile, users, bystander):
    idle = socket.create_connection(("127.0.0.1", hostile.port), timeout=DEADLINE)
    slowloris = socket.create_connection(("127.0.0.1", hostile.port), timeout=DEADLINE)
    try:
        slowloris.sendall(b"GET /ws/chat/lobby/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        # Others are served while those two hang on.
        conn, welcome = chat(hostile, users["alice"], "lobby")
        conn.close()
        assert welcome["room"] == "lobby"
        started = time.monotonic()
        for sock in (idle, slowloris):
            slowloris.sendall(b"X-Drip: 1\r\n") if sock is slowloris else None
            with (
                pytest.raises((ConnectionResetError, BrokenPipeError))
                if False
                else _closed()
            ):
                assert sock.recv(1024) == b""
        assert time.monotonic() - started < 3 + 10  # HTTP_HEADER_TIMEOUT + a bound
    finally:
        idle.close()
        slowloris.close()
    bystander.undisturbed()


class _closed:
    """Accepts either way a dropped connection shows itself to recv(): b"" or a reset."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        return kind is ConnectionResetError


def test_a_token_in_the_url_never_appears_in_the_server_log(hostile, users, bystander):
    token = users["mallory"].access
    conn, _ = chat(hostile, users["mallory"], "lobby")
    conn.close()
    refused_status(
        f"{hostile.ws_url}/ws/chat/lobby/?token={token}x"
    )  # a refused one too
    http_get(f"{hostile.url}/api/rooms/?token={token}")
    log = hostile.log_text()
    assert "lobby" in log  # the socket and request lines are there...
    assert token not in log and token.split(".")[2] not in log  # ...the token is not
    bystander.undisturbed()


def test_a_half_open_socket_is_closed_4408(server_factory, bystander):
    # Its own server: the heartbeat interval of 1 s would close every idle test socket.
    server = server_factory(WS_HEARTBEAT_INTERVAL="1")
    user = server.api.user("hal")
    conn = ws(f"{server.ws_url}/ws/notify/user/{user.id}/?token={user.access}")
    assert recv_json(conn)["type"] == "welcome"
    started = time.monotonic()
    assert close_code(conn) == 4408  # no frame within 2.5 intervals
    assert 2.0 <= time.monotonic() - started < 2.5 + 5
    bystander.undisturbed()
