"""End to end: the real server (`manage.py serve`, what `make run` starts) and the `websockets`
client library, over real TCP.

Protocol routes (`/ws/notify/user/<id>/`, `/ws/chat/<slug>/`, `/ws/echo/`) are used where the
behaviour is theirs to show; the test routes of `consumers.py` (mounted by `e2e_settings`)
stand in where a route with a `body` field or a handler that crashes is needed.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import re
import urllib.parse
import urllib.request
import uuid
from typing import Any

import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from realtime.socket.closecodes import CloseCode
from realtime.socket.tests import tokens
from tests import harness

pytestmark = pytest.mark.e2e

T = 15  # deadline for anything the server must do; never a sleep


# --- helpers ------------------------------------------------------------------------------------


async def refused_status(url: str, **kw: Any) -> int | None:
    """The HTTP status of a refused handshake; None when the socket was accepted."""
    try:
        async with websockets.connect(url, open_timeout=T, **kw):
            return None
    except InvalidStatus as exc:
        return exc.response.status_code


async def recv_json(ws: Any) -> dict:
    return orjson.loads(await asyncio.wait_for(ws.recv(), T))


async def closed_with(ws: Any, deadline: float = T) -> tuple[int | None, list[Any]]:
    """Read until the server closes: (its close code, the frames before the close)."""
    frames: list[Any] = []
    try:
        async with asyncio.timeout(deadline):
            while True:
                raw = await ws.recv()
                frames.append(_decoded(raw))
    except ConnectionClosed as exc:
        return (exc.rcvd.code if exc.rcvd else None), frames


def _decoded(raw: str | bytes) -> Any:
    """A JSON frame decoded; anything else (echo's frames) as it came."""
    if isinstance(raw, str):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return raw


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def notify_url(
    server: harness.Server, user: harness.User, token: str | None = None
) -> str:
    return f"{server.ws_url}/ws/notify/user/{user.id}/?token={token or user.access}"


def login_session_cookie(server: harness.Server, username: str) -> str:
    """Sign in through the /login/ form, as a browser does; the session cookie header."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(server.url + "/login/", timeout=T).read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {
            "username": username,
            "password": harness.PASSWORD,
            "csrfmiddlewaretoken": csrf,
        }
    ).encode()
    opener.open(
        urllib.request.Request(server.url + "/login/", data=form), timeout=T
    ).read()
    cookies = {c.name: c.value for c in jar}
    assert "sessionid" in cookies, "login through /login/ set no session cookie"
    return f"sessionid={cookies['sessionid']}"


@pytest.fixture(scope="module")
def server(module_servers):
    """The default test environment (production mode, JSON logs, default limits)."""
    return module_servers()


@pytest.fixture(scope="module")
def users(server):
    """alice, bob, plus carol (deactivated) and dave (deleted), with tokens from before."""
    made = {
        name: server.api.user(unique(name))
        for name in ("alice", "bob", "carol", "dave")
    }
    server.manage(
        "shell",
        "-c",
        "from accounts.models import User; "
        f"User.objects.filter(pk={made['carol'].id}).update(is_active=False); "
        f"User.objects.filter(pk={made['dave'].id}).delete()",
    )
    return made


# --- handshake refusals: HTTP 403 before accept --------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    [
        "malformed",
        "garbage_segments",
        "expired",
        "forged_signature",
        "tampered_payload",
        "alg_none",
        "other_alg",
        "refresh_as_access",
        "no_token_type",
        "no_user_claim",
    ],
)
async def test_each_bad_token_kind_is_refused_with_403(server, users, kind):
    alice = users["alice"]
    raw = tokens.bad_tokens(alice.id, harness.TEST_SECRET)[kind]
    assert await refused_status(notify_url(server, alice, raw)) == 403
    headers = {"Authorization": f"Bearer {raw}"}
    url = f"{server.ws_url}/ws/notify/user/{alice.id}/"
    assert await refused_status(url, additional_headers=headers) == 403


async def test_a_real_refresh_token_used_as_access_is_refused(server, users):
    alice = users["alice"]
    assert await refused_status(notify_url(server, alice, alice.refresh)) == 403


async def test_a_missing_token_on_an_auth_route_is_refused(server, users):
    assert (
        await refused_status(f"{server.ws_url}/ws/notify/user/{users['alice'].id}/")
        == 403
    )
    assert await refused_status(f"{server.ws_url}/ws/chat/lobby/") == 403


async def test_an_inactive_users_token_is_refused(server, users):
    assert await refused_status(notify_url(server, users["carol"])) == 403


async def test_a_deleted_users_token_is_refused(server, users):
    assert await refused_status(notify_url(server, users["dave"])) == 403


async def test_a_foreign_origin_is_refused(server, users):
    url = notify_url(server, users["alice"])
    assert await refused_status(url, origin="https://evil.example") == 403
    assert (
        await refused_status(f"{server.ws_url}/ws/echo/", origin="https://evil.example")
        == 403
    )


async def test_a_missing_origin_and_an_allowed_one_are_accepted(server, users):
    url = notify_url(server, users["alice"])
    assert await refused_status(url) is None  # websockets sends no Origin
    assert await refused_status(url, origin="http://localhost:8000") is None
    assert await refused_status(url, origin=server.url) is None


async def test_the_process_cap_refuses_with_403(module_servers):
    capped = module_servers(WS_MAX_CONNECTIONS=2)
    url = f"{capped.ws_url}/ws/echo/"
    async with (
        websockets.connect(url, open_timeout=T),
        websockets.connect(url, open_timeout=T),
    ):
        assert await refused_status(url) == 403
    # the places free up when the sockets close (the count is of live sockets)
    deadline = asyncio.get_running_loop().time() + T
    while await refused_status(url) is not None:
        assert asyncio.get_running_loop().time() < deadline, "cap never freed"
        await asyncio.sleep(0.05)


async def test_an_unknown_socket_path_is_refused_without_a_traceback(server):
    status = await refused_status(f"{server.ws_url}/ws/{unique('nope')}/")
    assert status in {403, 404}
    assert "Traceback" not in server.log_text()


# --- credentials order ---------------------------------------------------------------------------


async def whoami(url: str, **kw: Any) -> dict:
    async with websockets.connect(url, open_timeout=T, **kw) as ws:
        return (await recv_json(ws))["user"]


async def test_a_query_token_beats_a_bearer_header_beats_a_session_cookie(
    server, users
):
    alice, bob = users["alice"], users["bob"]
    other = server.api.user(unique("erin"))
    cookie = login_session_cookie(server, alice.username)
    base = f"{server.ws_url}/ws/test/"
    both = {"Authorization": f"Bearer {bob.access}", "Cookie": cookie}

    assert (await whoami(f"{base}?token={other.access}", additional_headers=both))[
        "id"
    ] == other.id
    assert (await whoami(base, additional_headers=both))["id"] == bob.id
    assert (await whoami(base, additional_headers={"Cookie": cookie}))["id"] == alice.id


async def test_a_session_from_the_login_page_opens_the_notify_socket(server, users):
    alice = users["alice"]
    cookie = login_session_cookie(server, alice.username)
    url = f"{server.ws_url}/ws/notify/user/{alice.id}/"
    async with websockets.connect(
        url, open_timeout=T, additional_headers={"Cookie": cookie}, origin=server.url
    ) as ws:
        welcome = await recv_json(ws)
    assert welcome["type"] == "welcome"
    assert welcome["user"] == alice.frame()


async def test_a_bad_query_token_is_refused_even_with_a_good_session(server, users):
    cookie = login_session_cookie(server, users["alice"].username)
    url = f"{server.ws_url}/ws/test/?token=not-a-jwt"
    assert await refused_status(url, additional_headers={"Cookie": cookie}) == 403


# --- error frames and closes ---------------------------------------------------------------------


@pytest.fixture
async def notify(server, users):
    async with websockets.connect(
        notify_url(server, users["alice"]), open_timeout=T
    ) as ws:
        assert (await recv_json(ws))["type"] == "welcome"
        yield ws


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "bad_json"),
        ('"a string"', "bad_json"),
        ('{"type":"message","body":"hi"}', "unknown_type"),
        ('{"type":"notify.event"}', "unknown_type"),
        ('{"type":"read"}', "invalid"),
        ('{"type":"read","id":"7"}', "invalid"),
        ('{"type":"heartbeat","extra":true}', "invalid"),
    ],
)
async def test_a_bad_frame_gets_its_error_frame_and_the_socket_stays_open(
    notify, frame, code
):
    await notify.send(frame)
    error = await recv_json(notify)
    assert (error["type"], error["code"]) == ("error", code)
    await notify.send('{"type":"heartbeat"}')
    assert (await recv_json(notify))["type"] == "heartbeat"


async def test_a_body_over_the_limit_is_too_large_and_the_socket_stays_open(
    server, users
):
    async with websockets.connect(
        f"{server.ws_url}/ws/test/?token={users['alice'].access}", open_timeout=T
    ) as ws:
        await recv_json(ws)
        await ws.send(
            orjson.dumps({"type": "say", "body": "x" * 4001}).decode()
        )  # default 4000
        assert (await recv_json(ws))["code"] == "too_large"
        await ws.send(orjson.dumps({"type": "say", "body": "x" * 4000}).decode())
        assert (await recv_json(ws))["type"] == "said"


async def test_a_chat_message_body_over_the_limit_is_too_large(server, users):
    alice = users["alice"]
    slug = unique("room-")
    status, body = server.api.post(
        "/api/rooms/",
        {"slug": slug, "name": slug, "is_private": False},
        token=alice.access,
    )
    assert status == 201, body
    async with websockets.connect(
        f"{server.ws_url}/ws/chat/{slug}/?token={alice.access}", open_timeout=T
    ) as ws:
        assert (await recv_json(ws))["type"] == "welcome"
        await ws.send(orjson.dumps({"type": "message", "body": "y" * 4001}).decode())
        while (frame := await recv_json(ws))["type"] == "presence":
            pass
        assert (frame["type"], frame["code"]) == ("error", "too_large")


async def test_a_binary_frame_on_a_json_route_closes_1003(notify):
    await notify.send(b'{"type":"heartbeat"}')
    assert (await closed_with(notify))[0] == CloseCode.UNSUPPORTED_DATA


async def test_a_frame_over_the_servers_limit_closes_1009(server):
    async with websockets.connect(f"{server.ws_url}/ws/echo/", open_timeout=T) as ws:
        await ws.send(b"x" * 65536)  # the default WS_MAX_FRAME_BYTES: still fine
        assert len(await asyncio.wait_for(ws.recv(), T)) == 65536
        await ws.send(b"x" * 65537)
        assert (await closed_with(ws))[0] == CloseCode.MESSAGE_TOO_BIG


async def test_a_text_frame_over_the_limit_on_a_json_route_closes_1009(notify):
    await notify.send('{"type":"heartbeat","pad":"' + "x" * 70_000 + '"}')
    assert (await closed_with(notify))[0] == CloseCode.MESSAGE_TOO_BIG


async def test_too_many_invalid_frames_close_4400(notify):
    for _ in range(20):  # WS_MAX_INVALID_FRAMES default
        await notify.send("nope")
    code, frames = await closed_with(notify)
    assert code == CloseCode.INVALID_FRAMES
    assert [f["code"] for f in frames] == ["bad_json"] * 20


async def test_a_sustained_flood_gets_rate_limited_errors_then_4429(notify):
    for _ in range(200):
        try:
            await notify.send('{"type":"heartbeat"}')
        except ConnectionClosed:
            break
    code, frames = await closed_with(notify)
    assert code == CloseCode.RATE_LIMITED
    errors = [f for f in frames if f["type"] == "error"]
    assert errors and all(f["code"] == "rate_limited" for f in errors)
    assert (
        30 <= sum(f["type"] == "heartbeat" for f in frames) < 60
    )  # the burst, plus refill


async def test_a_crash_closes_that_socket_1011_and_the_others_keep_working(
    server, users
):
    alice, bob = users["alice"], users["bob"]
    base = f"{server.ws_url}/ws/test/"
    async with (
        websockets.connect(f"{base}?token={alice.access}", open_timeout=T) as victim,
        websockets.connect(f"{base}?token={bob.access}", open_timeout=T) as bystander,
        websockets.connect(f"{server.ws_url}/ws/echo/", open_timeout=T) as echo,
    ):
        victim_id = (await recv_json(victim))["connection_id"]
        await recv_json(bystander)
        await victim.send('{"type":"crash"}')
        assert (await closed_with(victim))[0] == CloseCode.INTERNAL_ERROR
        await bystander.send('{"type":"say","body":"still here"}')
        assert await recv_json(bystander) == {"type": "said", "body": "still here"}
        await echo.send("and here")
        assert await asyncio.wait_for(echo.recv(), T) == "and here"
    assert (
        await refused_status(f"{base}?token={alice.access}") is None
    )  # new sockets too
    crash = [
        line
        for line in server.log_lines()
        if line.get("msg") == "consumer crashed"
        and line.get("connection_id") == victim_id
    ]
    assert len(crash) == 1
    assert crash[0]["level"] == "ERROR"
    assert "Traceback" in crash[0]["exc"]
    assert "RuntimeError: a bug in a handler (test)" in crash[0]["exc"]


async def test_a_real_server_closes_1011_on_a_broken_frame_and_the_harness_sees_it(
    server, users
):
    url = f"{server.ws_url}/ws/test/?token={users['alice'].access}"
    async with websockets.connect(url, open_timeout=T) as ws:
        connection_id = (await recv_json(ws))["connection_id"]
        await ws.send('{"type":"misbehave"}')  # answered with a frame off its schema
        assert await closed_with(ws) == (CloseCode.INTERNAL_ERROR, [])
    # Read here, so the autouse check after this test finds nothing left to fail on.
    (line,) = harness.broken_frames_anywhere()
    assert connection_id in line and "Extra inputs are not permitted" in line


async def test_a_close_code_reaches_a_client_that_is_still_sending(server):
    """The server must not drop TCP right after its close frame: the client's unread frames
    would turn the close into a reset, and the client would see 1006 instead of the code."""
    codes = []
    for _ in range(15):
        async with websockets.connect(
            f"{server.ws_url}/ws/echo/", open_timeout=T
        ) as ws:
            for i in range(200):
                try:
                    await ws.send(f"m{i}")
                except ConnectionClosed:
                    break
            codes.append((await closed_with(ws))[0])
    assert codes == [CloseCode.RATE_LIMITED] * 15


# --- echo ----------------------------------------------------------------------------------------


async def test_echo_sends_text_and_binary_back_unchanged(server):
    async with websockets.connect(f"{server.ws_url}/ws/echo/", open_timeout=T) as ws:
        for item in ["héllo 🎉", b"\x00\xff" * 100, '{"type":"x"}', bytes(range(256))]:
            await ws.send(item)
            assert await asyncio.wait_for(ws.recv(), T) == item


async def test_frames_of_every_length_class_arrive_whole_through_the_fast_path(server):
    # 125/126 and 65,535/65,536 bytes are where a frame header changes shape; the
    # server writes pre-encoded frames itself (realtime.socket.frames), not through uvicorn.
    async with websockets.connect(
        f"{server.ws_url}/ws/echo/", open_timeout=T, max_size=2**20
    ) as ws:
        for size in (1, 125, 126, 127, 4000, 65000):
            text = "é" * (size // 2) + "a" * (size % 2)
            await ws.send(text)
            assert await asyncio.wait_for(ws.recv(), T) == text


async def test_echo_is_rate_limited_too(server):
    async with websockets.connect(f"{server.ws_url}/ws/echo/", open_timeout=T) as ws:
        for i in range(200):
            try:
                await ws.send(f"m{i}")
            except ConnectionClosed:
                break
        code, frames = await closed_with(ws)
    assert code == CloseCode.RATE_LIMITED
    assert any(isinstance(f, dict) and f.get("code") == "rate_limited" for f in frames)


# --- timers: heartbeat timeout and token expiry -----------------------------------------------------


@pytest.fixture(scope="module")
def quick(module_servers):
    """A server with a 1 s heartbeat interval and 2 s access tokens."""
    return module_servers(WS_HEARTBEAT_INTERVAL=1, JWT_ACCESS_LIFETIME_SECONDS=2)


async def test_silence_closes_4408_after_two_and_a_half_intervals(quick):
    async with websockets.connect(
        f"{quick.ws_url}/ws/test-open/", open_timeout=T
    ) as ws:
        await recv_json(ws)
        started = asyncio.get_running_loop().time()
        code, _ = await closed_with(ws)
        elapsed = asyncio.get_running_loop().time() - started
    assert code == CloseCode.HEARTBEAT_TIMEOUT
    assert 2.0 <= elapsed < 10


async def test_an_unrefreshed_token_closes_4401_even_with_heartbeats(quick):
    user = quick.api.user(unique("frank"))
    async with websockets.connect(notify_url(quick, user), open_timeout=T) as ws:
        await recv_json(ws)
        code = None
        async with asyncio.timeout(T):
            while code is None:
                try:
                    await ws.send('{"type":"heartbeat"}')
                    await recv_json(ws)
                except ConnectionClosed as exc:
                    code = exc.rcvd.code if exc.rcvd else None
                    break
                await asyncio.sleep(
                    0.5
                )  # the client's heartbeat period, not a sync point
    assert code == CloseCode.AUTH_EXPIRED


async def test_an_in_band_refresh_keeps_the_socket_open(quick):
    user = quick.api.user(unique("gina"))
    async with websockets.connect(notify_url(quick, user), open_timeout=T) as ws:
        await recv_json(ws)
        loop = asyncio.get_running_loop()
        until = loop.time() + 5  # more than two token lifetimes
        while loop.time() < until:
            fresh = quick.api.tokens(user.username)[
                "access"
            ]  # a new 2 s token each round
            await ws.send(orjson.dumps({"type": "auth", "token": fresh}).decode())
            reply = await recv_json(ws)
            assert reply["type"] == "auth", reply
            await asyncio.sleep(0.7)  # the client's refresh period, not a sync point
        await ws.send('{"type":"heartbeat"}')
        assert (await recv_json(ws))["type"] == "heartbeat"


# --- logs -------------------------------------------------------------------------------------------


def http_call(
    server: harness.Server,
    method: str,
    path: str,
    headers: dict | None = None,
    body=None,
):
    req = urllib.request.Request(server.url + path, method=method, data=body)
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    try:
        with urllib.request.urlopen(req, timeout=T) as resp:
            return resp.status, resp.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers


async def test_no_token_ever_reaches_the_log(server, users):
    alice = users["alice"]
    fresh = server.api.user(unique("henry"))
    bad = tokens.bad_tokens(alice.id, harness.TEST_SECRET)
    secrets = [alice.access, alice.refresh, fresh.access, fresh.refresh, *bad.values()]

    # sockets: accepted and refused, with the token in the query and in the header
    await whoami(notify_url(server, alice))
    await whoami(f"{server.ws_url}/ws/test/?token={fresh.access}&x=1")
    async with websockets.connect(
        f"{server.ws_url}/ws/echo/?token={fresh.access}"
    ) as ws:
        await ws.send("x")
        await ws.recv()
    for raw in bad.values():
        assert await refused_status(f"{server.ws_url}/ws/test/?token={raw}") == 403
        await refused_status(
            f"{server.ws_url}/ws/test/",
            additional_headers={"Authorization": f"Bearer {raw}"},
        )
    # an in-band refresh frame carries a token too
    async with websockets.connect(notify_url(server, fresh)) as ws:
        await recv_json(ws)
        await ws.send(orjson.dumps({"type": "auth", "token": fresh.access}).decode())
        await recv_json(ws)
        await ws.send(
            orjson.dumps({"type": "auth", "token": bad["forged_signature"]}).decode()
        )
        await recv_json(ws)
    # HTTP: tokens in query strings (found, not found, refused) and in headers
    for raw in (alice.access, bad["expired"]):
        http_call(server, "GET", f"/healthz?token={raw}")
        http_call(server, "GET", f"/api/{unique('nope')}/?token={raw}&page=1")
        http_call(server, "GET", f"/api/rooms/?access_token={raw}")
        http_call(server, "GET", "/api/rooms/", {"Authorization": f"Bearer {raw}"})
        http_call(server, "GET", f"/no-such-page/?token={raw}")
        http_call(
            server,
            "POST",
            f"/api/auth/token/refresh/?token={raw}",
            {"Content-Type": "application/json"},
            orjson.dumps({"refresh": raw}),
        )
    http_call(
        server,
        "POST",
        "/api/auth/token/refresh/",
        {"Content-Type": "application/json"},
        orjson.dumps({"refresh": fresh.refresh}),
    )

    log = server.log_text()
    assert "[redacted]" in log  # the lines were written, with the token taken out
    for raw in secrets:
        assert raw not in log
        assert raw.split(".")[-1] not in log or len(raw.split(".")[-1]) < 8


async def test_each_socket_logs_one_open_and_one_close_line_with_its_context(
    server, users
):
    alice = users["alice"]
    trace = uuid.uuid4().hex
    headers = {"traceparent": f"00-{trace}-00f067aa0ba902b7-01"}
    async with websockets.connect(
        notify_url(server, alice), open_timeout=T, additional_headers=headers
    ) as ws:
        connection_id = (await recv_json(ws))["connection_id"]
        await ws.close(code=4000)
    deadline = asyncio.get_running_loop().time() + T
    while True:
        mine = [
            line
            for line in server.log_lines()
            if line.get("connection_id") == connection_id
        ]
        closes = [line for line in mine if line.get("event") == "close"]
        if closes or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.05)
    opens = [line for line in mine if line.get("event") == "open"]
    assert len(opens) == 1 and len(closes) == 1
    for line in (opens[0], closes[0]):
        assert line["route"] == "notify"
        assert line["user_id"] == alice.id
        assert line["trace_id"] == trace
    assert closes[0]["close_code"] == 4000
    assert isinstance(closes[0]["duration"], float | int) and closes[0]["duration"] >= 0
    assert all(line["trace_id"] == trace for line in mine)  # every line of that socket


async def test_a_refused_socket_logs_its_trace_id_from_x_request_id(server):
    request_id = unique("req-")
    status = await refused_status(
        f"{server.ws_url}/ws/test/?token=not-a-jwt",
        additional_headers={"X-Request-ID": request_id},
    )
    assert status == 403
    assert any(
        line.get("trace_id") == request_id and "refused" in line.get("msg", "")
        for line in server.log_lines()
    )


def test_http_responses_carry_the_trace_id_as_x_request_id(server):
    request_id = unique("req-")
    status, headers = http_call(server, "GET", "/login/", {"X-Request-ID": request_id})
    assert (status, headers["X-Request-ID"]) == (200, request_id)
    trace = uuid.uuid4().hex
    _, headers = http_call(
        server, "GET", "/api/nope/", {"traceparent": f"00-{trace}-00f067aa0ba902b7-01"}
    )
    assert headers["X-Request-ID"] == trace
    _, headers = http_call(server, "GET", "/login/")
    assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-ID"])
    access = [
        line
        for line in server.log_lines()
        if line.get("logger") == "realtime.access"
        and line.get("trace_id") == request_id
    ]
    assert len(access) == 1
    assert access[0]["msg"] == "GET /login/ 200"
    assert access[0]["status"] == 200
