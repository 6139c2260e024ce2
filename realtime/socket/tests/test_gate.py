"""The gate in front of every socket route: Origin, credentials and their order, caps, rate."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from prometheus_client import REGISTRY

from realtime.fanout.hub import hub
from realtime.socket import gate
from realtime.socket.gate import (
    bearer_from_headers,
    origin_allowed,
    route_of,
    session_key_from_headers,
)
from realtime.socket.tests import tokens

# --- pure helpers --------------------------------------------------------------------------

HOSTS = ["localhost", "127.0.0.1"]


@pytest.mark.parametrize(
    "origin",
    [
        None,
        "http://localhost",
        "http://localhost:8000",
        "https://127.0.0.1:9000",
        "HTTP://LOCALHOST",
    ],
)
def test_a_missing_or_allowed_origin_passes(origin):
    assert origin_allowed(origin, HOSTS)


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "https://localhost.evil.example",
        "http://evil.example:8000",
        "null",
        "",
        "file://localhost",
        "ws://localhost",
        "localhost",
        "http://",
        "http://user@evil.example",
    ],
)
def test_a_foreign_or_odd_origin_is_refused(origin):
    assert not origin_allowed(origin, HOSTS)


@pytest.mark.parametrize(
    "origin",
    [
        "http://[::1",
        "http://[::1]x",
        "https://[",
        "http://[not-an-ip]",
        "http://[::1]:99999999999",
        "http://lo\x00calhost",
        "http://localhost\udcff",
        "http://%zz",
        "h\xe9llo://localhost",
        "http://" + "a" * 10_000,
    ],
)
def test_a_malformed_origin_is_refused_not_an_error(origin):
    assert origin_allowed(origin, HOSTS) is False


def test_a_wildcard_subdomain_host_allows_its_subdomains_only():
    assert origin_allowed("https://chat.example.com", [".example.com"])
    assert not origin_allowed("https://example.com.evil.org", [".example.com"])


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"authorization", b"Bearer abc.def.ghi")], "abc.def.ghi"),
        ([(b"Authorization", b"bearer  abc ")], "abc"),
        ([(b"authorization", b"Basic dXNlcjpwdw==")], None),
        ([(b"x-other", b"Bearer abc")], None),
        ([], None),
    ],
)
def test_the_bearer_token_is_read_from_the_authorization_header(headers, expected):
    assert bearer_from_headers(headers) == expected


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/ws/chat/lobby/", "chat"),
        ("/ws/notify/user/3/", "notify"),
        ("/ws/echo/", "echo"),
        ("/ws/whatever/", "other"),
        ("/", "other"),
        ("", "other"),
    ],
)
def test_metrics_labels_come_from_a_closed_set_not_the_url(path, route):
    assert route_of(path) == route


@pytest.mark.parametrize(
    ("cookie", "expected"),
    [
        (
            b"sessionid=abcdefgh12345678abcdefgh12345678",
            "abcdefgh12345678abcdefgh12345678",
        ),
        (b'sessionid="\\000abcdefghijk"', None),  # an octal escape: a NUL
        (b"sessionid=abc def", None),
        (b"sessionid=\xe9t\xe9", None),
        (b"sessionid=" + b"a" * 5000, None),
        (b"other=1", None),
    ],
)
def test_only_a_well_formed_session_cookie_is_looked_up(cookie, expected):
    assert session_key_from_headers([(b"cookie", cookie)]) == expected


# --- the gate, through WebsocketCommunicator ---------------------------------------------

pytestmark_db = pytest.mark.django_db(transaction=True)


def _counter(route: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "realtime_handshakes_total", {"route": route, "outcome": outcome}
    )
    return value or 0.0


async def welcome_of(comm):
    connected, _ = await comm.connect(timeout=10)
    assert connected
    return await comm.receive_json_from(timeout=10)


async def refused(comm) -> bool:
    """True when the handshake was refused before accept (the server answers HTTP 403)."""
    connected, code = await comm.connect(timeout=10)
    if connected:
        return False
    assert code == 1008
    return True


@pytestmark_db
async def test_no_credentials_on_an_auth_route_are_refused_before_accept(communicator):
    assert await refused(communicator("/ws/test/"))


@pytestmark_db
async def test_no_credentials_on_an_open_route_are_an_anonymous_socket(communicator):
    welcome = await welcome_of(communicator("/ws/test-open/"))
    assert welcome["user"] is None and welcome["method"] is None


@pytestmark_db
async def test_a_valid_query_token_is_accepted(communicator, alice):
    welcome = await welcome_of(communicator(f"/ws/test/?token={alice.token}"))
    assert welcome["user"] == {"id": alice.pk, "username": "alice"}
    assert welcome["method"] == "token"


@pytestmark_db
async def test_a_valid_bearer_header_is_accepted(communicator, alice):
    headers = [(b"authorization", f"Bearer {alice.token}".encode())]
    welcome = await welcome_of(communicator("/ws/test/", headers=headers))
    assert welcome["user"]["id"] == alice.pk


@pytestmark_db
async def test_a_session_cookie_is_accepted(communicator, alice):
    cookie = await database_sync_to_async(alice.session_cookie)()
    welcome = await welcome_of(communicator("/ws/test/", headers=[cookie]))
    assert welcome["user"]["id"] == alice.pk
    assert welcome["method"] == "session"


BAD_KINDS = [
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
    "oversized",
]


@pytestmark_db
@pytest.mark.parametrize("kind", BAD_KINDS)
@pytest.mark.parametrize("where", ["query", "bearer"])
async def test_every_bad_token_kind_is_refused_before_accept(
    communicator, alice, kind, where
):
    raw = tokens.bad_tokens(alice.pk, settings.SECRET_KEY)[kind]
    if where == "query":
        comm = communicator(f"/ws/test/?token={raw}")
    else:
        comm = communicator(
            "/ws/test/", headers=[(b"authorization", f"Bearer {raw}".encode())]
        )
    assert await refused(comm)


@pytestmark_db
@pytest.mark.parametrize("path", ["/ws/test-open/", "/ws/echo/"])
async def test_a_bad_token_is_refused_even_where_none_is_needed(
    communicator, alice, path
):
    raw = tokens.bad_tokens(alice.pk, settings.SECRET_KEY)["expired"]
    assert await refused(communicator(f"{path}?token={raw}"))


@pytestmark_db
async def test_an_inactive_users_token_is_refused(communicator, alice):
    alice.user.is_active = False
    await database_sync_to_async(alice.user.save)()
    assert await refused(communicator(f"/ws/test/?token={alice.token}"))


@pytestmark_db
async def test_an_inactive_users_session_is_refused(communicator, alice):
    cookie = await database_sync_to_async(alice.session_cookie)()
    alice.user.is_active = False
    await database_sync_to_async(alice.user.save)()
    assert await refused(communicator("/ws/test/", headers=[cookie]))


@pytestmark_db
async def test_a_deleted_users_token_is_refused(communicator, alice):
    await database_sync_to_async(alice.user.delete)()
    assert await refused(communicator(f"/ws/test/?token={alice.token}"))


@pytestmark_db
async def test_the_query_token_beats_the_bearer_header(communicator, alice, bob):
    headers = [(b"authorization", f"Bearer {bob.token}".encode())]
    welcome = await welcome_of(
        communicator(f"/ws/test/?token={alice.token}", headers=headers)
    )
    assert welcome["user"]["id"] == alice.pk


@pytestmark_db
async def test_a_bad_query_token_is_not_rescued_by_a_good_bearer_header(
    communicator, alice
):
    raw = tokens.bad_tokens(alice.pk, settings.SECRET_KEY)["forged_signature"]
    headers = [(b"authorization", f"Bearer {alice.token}".encode())]
    assert await refused(communicator(f"/ws/test/?token={raw}", headers=headers))


@pytestmark_db
async def test_the_bearer_header_beats_the_session_cookie(communicator, alice, bob):
    cookie = await database_sync_to_async(alice.session_cookie)()
    headers = [cookie, (b"authorization", f"Bearer {bob.token}".encode())]
    welcome = await welcome_of(communicator("/ws/test/", headers=headers))
    assert welcome["user"]["id"] == bob.pk
    assert welcome["method"] == "token"


@pytestmark_db
async def test_a_bad_bearer_header_is_not_rescued_by_a_session(communicator, alice):
    cookie = await database_sync_to_async(alice.session_cookie)()
    headers = [cookie, (b"authorization", b"Bearer not-a-jwt")]
    assert await refused(communicator("/ws/test/", headers=headers))


@pytestmark_db
async def test_a_foreign_origin_is_refused_even_with_a_valid_token(communicator, alice):
    headers = [(b"origin", b"https://evil.example")]
    assert await refused(
        communicator(f"/ws/test/?token={alice.token}", headers=headers)
    )


@pytestmark_db
async def test_an_allowed_origin_is_accepted(communicator, alice):
    headers = [(b"origin", b"http://localhost:8000")]
    assert await welcome_of(
        communicator(f"/ws/test/?token={alice.token}", headers=headers)
    )


@pytestmark_db
async def test_the_origin_check_follows_allowed_hosts(communicator, alice, settings):
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    ok = [(b"origin", b"https://chat.example.com")]
    assert await welcome_of(communicator(f"/ws/test/?token={alice.token}", headers=ok))
    local = [(b"origin", b"http://localhost")]
    assert await refused(communicator(f"/ws/test/?token={alice.token}", headers=local))


@pytestmark_db
async def test_the_process_cap_refuses_before_any_credential_check(
    communicator, alice, settings, monkeypatch
):
    settings.WS_MAX_CONNECTIONS = 1
    first = communicator("/ws/echo/")
    assert (await first.connect(timeout=10))[0]
    checked: list[str] = []
    real = gate.validate_access_token
    monkeypatch.setattr(
        gate,
        "validate_access_token",
        lambda raw: checked.append(raw) or real(raw),
    )
    before = _counter("echo", "refused_capacity")
    assert await refused(communicator(f"/ws/echo/?token={alice.token}"))
    assert checked == []  # refused before the token is even looked at
    assert _counter("echo", "refused_capacity") == before + 1
    await first.disconnect()
    assert (await communicator(f"/ws/echo/?token={alice.token}").connect(timeout=10))[0]


@pytestmark_db
async def test_the_handshake_rate_is_per_client_ip(communicator, settings):
    settings.WS_HANDSHAKE_RATE = 1  # burst of 2
    results = []
    for _ in range(3):
        comm = communicator("/ws/echo/")
        comm.scope["client"] = ("203.0.113.9", 4000)
        results.append((await comm.connect(timeout=10))[0])
        if results[-1]:
            await comm.disconnect()
    assert results == [True, True, False]
    other = communicator("/ws/echo/")
    other.scope["client"] = ("203.0.113.10", 4000)
    assert (await other.connect(timeout=10))[0]


@pytestmark_db
async def test_a_handshake_rate_of_zero_turns_the_limit_off(communicator, settings):
    settings.WS_HANDSHAKE_RATE = 0
    for _ in range(30):
        comm = communicator("/ws/echo/")
        assert (await comm.connect(timeout=10))[0]
        await comm.disconnect()


@pytestmark_db
async def test_a_draining_process_refuses_new_sockets(communicator):
    hub.draining = True
    try:
        assert await refused(communicator("/ws/echo/"))
    finally:
        hub.draining = False


@pytestmark_db
async def test_refusals_and_acceptances_are_counted_by_outcome(communicator, alice):
    origin_before = _counter("other", "refused_origin")
    auth_before = _counter("other", "refused_auth")
    ok_before = _counter("test", "accepted")
    await refused(
        communicator("/ws/test/", headers=[(b"origin", b"http://evil.example")])
    )
    await refused(communicator("/ws/test/?token=nope"))
    await welcome_of(communicator(f"/ws/test/?token={alice.token}"))
    assert _counter("other", "refused_origin") == origin_before + 1
    assert _counter("other", "refused_auth") == auth_before + 1
    assert _counter("test", "accepted") == ok_before + 1


@pytestmark_db
async def test_the_trace_id_of_a_socket_comes_from_traceparent(communicator, alice):
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    comm = communicator(
        f"/ws/test/?token={alice.token}",
        headers=[(b"traceparent", f"00-{trace}-00f067aa0ba902b7-01".encode())],
    )
    assert (await welcome_of(comm))["trace_id"] == trace


@pytestmark_db
async def test_a_socket_without_trace_headers_gets_a_fresh_trace_id(
    communicator, alice
):
    first = await welcome_of(communicator(f"/ws/test/?token={alice.token}"))
    second = await welcome_of(communicator(f"/ws/test/?token={alice.token}"))
    assert len(first["trace_id"]) == 32
    assert first["trace_id"] != second["trace_id"]


@pytestmark_db
@pytest.mark.parametrize(
    "headers",
    [
        [(b"origin", b"http://[::1")],
        [(b"origin", b"http://\xff\xfe[")],
        [(b"cookie", b'sessionid="\\000abcdefghijk"')],
        [(b"authorization", b"Bearer \xff\x00\xfe")],
        [(b"traceparent", b"\xff" * 100), (b"x-request-id", b"\x00" * 100)],
    ],
    ids=["origin-ipv6-open", "origin-bytes", "cookie-nul", "bearer-bytes", "trace"],
)
async def test_malformed_headers_are_refused_before_accept(communicator, headers):
    assert await refused(communicator("/ws/test/", headers=headers))


@pytestmark_db
@pytest.mark.parametrize(
    "query",
    ["token=%ff%fe%zz", "token=%00", "token=" + "%41" * 3000, "&" * 5000, "token"],
)
async def test_malformed_query_strings_are_refused_before_accept(communicator, query):
    assert await refused(communicator(f"/ws/test/?{query}"))


def _from(comm, address: str):
    comm.scope["client"] = (address, 4000)
    return comm


@pytestmark_db
async def test_anonymous_sockets_per_ip_are_capped_signed_in_users_are_not(
    communicator, alice, settings
):
    settings.WS_MAX_ANON_CONNECTIONS_PER_IP = 2
    here = "203.0.113.20"
    first, second = (_from(communicator("/ws/echo/"), here) for _ in range(2))
    assert (await first.connect(timeout=10))[0]
    assert (await second.connect(timeout=10))[0]
    before = _counter("echo", "refused_anon_cap")
    assert await refused(_from(communicator("/ws/echo/"), here))
    assert _counter("echo", "refused_anon_cap") == before + 1
    # A signed-in user from the same address, and anyone from another, are let in.
    signed_in = _from(communicator(f"/ws/echo/?token={alice.token}"), here)
    assert (await signed_in.connect(timeout=10))[0]
    elsewhere = _from(communicator("/ws/echo/"), "203.0.113.21")
    assert (await elsewhere.connect(timeout=10))[0]
    # A place is free again once one of them is gone.
    await first.disconnect()
    again = _from(communicator("/ws/echo/"), here)
    assert (await again.connect(timeout=10))[0]


@pytestmark_db
async def test_failed_anonymous_handshakes_do_not_use_up_the_cap(
    communicator, ws_app, settings
):
    settings.WS_MAX_ANON_CONNECTIONS_PER_IP = 1
    here = "203.0.113.22"
    for _ in range(3):  # refused by the consumer (credentials needed), or no such route
        assert await refused(_from(communicator("/ws/test/"), here))
        assert await refused(_from(communicator("/ws/no-such-route/"), here))
    assert ws_app.anonymous == {}
    held = _from(communicator("/ws/echo/"), here)
    assert (await held.connect(timeout=10))[0]
    assert ws_app.anonymous == {here: 1}
    await held.disconnect()
    assert ws_app.anonymous == {}
