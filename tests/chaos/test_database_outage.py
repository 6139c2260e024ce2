"""A database outage: socket sends answer `unavailable` (no acknowledgement), the socket
stays, and the client's client_id resend after recovery stores exactly one message."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.support import (
    Frames,
    TcpProxy,
    chat,
    heartbeat_ok,
    http_get,
    is_message,
    room_create,
    say,
    sockets,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.chaos, pytest.mark.cluster]


@pytest.fixture
def db_proxy(pg_database):
    """A cuttable relay in front of the test database (torn down after the servers)."""
    parts = urlsplit(pg_database)
    proxy = TcpProxy(parts.hostname, parts.port)
    proxy.url = urlunsplit(
        parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}")
    )
    yield proxy
    proxy.close()


def test_database_outage_answers_unavailable_and_a_resend_stores_exactly_one(
    db_proxy, cluster
):
    proxy = db_proxy
    proxied = proxy.url
    (server,) = cluster(
        1, database_url=proxied, DB_POOL_TIMEOUT="2", DB_POOL_MIN_SIZE="1"
    )
    alice, bob = server.api.user("alice"), server.api.user("bob")
    room_create(server, alice, "lobby")
    (ca, _), (cb, _) = chat(server, alice, "lobby"), chat(server, bob, "lobby")
    with sockets(ca, cb):
        fa, fb = Frames(ca), Frames(cb)
        say(ca, "before", "c-0")
        fa.until(is_message("before"))

        proxy.cut()
        say(ca, "during", "c-1")
        error = fa.until(lambda f: f.get("type") == "error")
        assert error["code"] == "unavailable"
        assert not [f for f in fa.seen if is_message("during")(f)]  # no acknowledgement
        assert heartbeat_ok(ca) and heartbeat_ok(cb)  # both sockets stay open
        status, body = http_get(server.url + "/readyz")
        assert status == 503 and "database" in body["failing"]

        proxy.restore()
        wait_for(
            lambda: http_get(server.url + "/readyz")[0] == 200, what="database back"
        )
        say(ca, "during", "c-1")
        first = fa.until(is_message("during"))
        say(ca, "during", "c-1")  # a second resend gets the original back
        again = fa.until(is_message("during"))
        assert again["id"] == first["id"] and first["seq"] == 2
        assert fb.until(is_message("during"))["id"] == first["id"]
        status, page = server.api.get(
            "/api/rooms/lobby/messages/?after=0", token=alice.access
        )
        assert status == 200
        rows = page["results"] if isinstance(page, dict) else page
        assert [m["client_id"] for m in rows] == ["c-0", "c-1"]
