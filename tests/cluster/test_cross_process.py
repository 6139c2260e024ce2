"""Two real server processes on one PostgreSQL and one Redis are one cluster (PROTOCOL.md 7)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from websockets.exceptions import ConnectionClosed

from tests.support import (
    chat,
    close_code,
    echo_ok,
    http_get,
    is_message,
    make_staff,
    notify,
    recv_until,
    room_create,
    say,
    sockets,
    wait_for,
    ws,
)

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]


def test_both_processes_are_ready_with_distinct_process_ids(cluster):
    a, b = cluster(2)
    assert http_get(a.url + "/readyz") == (200, {"status": "ready"})
    assert http_get(b.url + "/readyz") == (200, {"status": "ready"})
    # PostgreSQL through Django's psycopg pool, under the async server's threads: a burst
    # of concurrent REST calls and sockets is served, and the pool reports itself.
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda i: a.api.register(f"u{i}"), range(32)))
    assert len(set(statuses)) == 32
    status, text = http_get(a.url + "/metrics")
    assert 'realtime_db_pool_connections{state="max"} 20.0' in text
    out = a.manage(
        "shell",
        "-c",
        "from realtime.registry.models import ServerProcess as P; print(sorted(P.objects.values_list('pid', flat=True)))",
    )
    assert out.strip().splitlines()[-1] == str(sorted([a.pid, b.pid]))


def test_a_message_sent_on_one_process_reaches_the_other(cluster):
    a, b = cluster(2)
    alice, bob = a.api.user("alice"), a.api.user("bob")
    room_create(a, alice, "lobby")
    (ca, _), (cb, _) = chat(a, alice, "lobby"), chat(b, bob, "lobby")
    with sockets(ca, cb):
        say(ca, "hello from A", "c-1")
        ack = recv_until(ca, is_message("hello from A"))
        got = recv_until(cb, is_message("hello from A"))
        assert got == ack and got["seq"] == 1 and got["user"]["username"] == "alice"
        # And the other way, through REST on B: stored there, live on A.
        status, _ = b.api.post(
            "/api/rooms/lobby/messages/", {"body": "rest on B"}, token=bob.access
        )
        assert status == 201
        assert recv_until(ca, is_message("rest on B"))["seq"] == 2


def test_a_presence_change_crosses_processes(cluster):
    a, b = cluster(2, WS_PRESENCE_INTERVAL="0.2")
    alice, bob = a.api.user("alice"), a.api.user("bob")
    room_create(a, alice, "lobby")
    cb, _ = chat(b, bob, "lobby")
    with sockets(cb):
        ca, _ = chat(a, alice, "lobby")
        joined = recv_until(
            cb, lambda f: f.get("type") == "presence" and alice.frame() in f["joins"]
        )
        assert joined["count"] == 2
        ca.close()
        left = recv_until(
            cb, lambda f: f.get("type") == "presence" and alice.frame() in f["leaves"]
        )
        assert left["count"] == 1


def test_a_notification_crosses_processes(cluster):
    a, b = cluster(2)
    staff, bob = a.api.user("staff"), a.api.user("bob")
    make_staff(a, "staff")
    nb, welcome = notify(b, bob)
    na, _ = notify(a, bob)
    with sockets(nb, na):
        assert welcome["unread"] == 0
        status, body = a.api.post(
            "/api/notifications/",
            {
                "usernames": ["bob"],
                "title": "deploy",
                "body": "at noon",
                "level": "info",
            },
            token=staff.access,
        )
        assert status == 201, body
        got = recv_until(nb, lambda f: f.get("type") == "notification")
        assert (got["title"], got["body"], got["read"]) == ("deploy", "at noon", False)
        # Reading it on A updates the count on B's socket too.
        status, _ = a.api.post(
            f"/api/notifications/{got['id']}/read/", token=bob.access
        )
        assert status in (200, 204)
        assert recv_until(nb, lambda f: f.get("type") == "unread")["count"] == 0


def test_a_whitelist_kick_crosses_processes(cluster):
    a, b = cluster(2)
    alice, bob = a.api.user("alice"), a.api.user("bob")
    room_create(a, alice, "secret", private=True)
    status, _ = a.api.post(
        "/api/rooms/secret/members/", {"username": "bob"}, token=alice.access
    )
    assert status in (200, 201)
    cb, _ = chat(b, bob, "secret")
    ca, _ = chat(a, alice, "secret")
    with sockets(ca, cb):
        status, _ = a.api.delete(
            "/api/rooms/secret/members/", {"username": "bob"}, token=alice.access
        )
        assert status in (200, 204)
        assert close_code(cb) == 4403
        say(ca, "still here", "c-2")
        assert recv_until(ca, is_message("still here"))


def test_closing_a_users_sockets_reaches_every_process(cluster):
    a, b = cluster(2)
    alice, bob = a.api.user("alice"), a.api.user("bob")
    ea = ws(f"{a.ws_url}/ws/echo/?token={alice.access}")
    eb = ws(f"{b.ws_url}/ws/echo/?token={alice.access}")
    other = ws(f"{b.ws_url}/ws/echo/?token={bob.access}")
    with sockets(ea, eb, other):
        assert echo_ok(ea) and echo_ok(eb)
        a.manage(
            "shell",
            "-c",
            f"from accounts.services import user_sockets_close as c; c(user_id={alice.id})",
        )
        assert close_code(ea) == 4401
        assert close_code(eb) == 4401
        assert echo_ok(other)


def test_the_per_user_cap_counts_sockets_on_every_process(cluster):
    a, b = cluster(2, WS_MAX_CONNECTIONS_PER_USER="2")
    alice = a.api.user("alice")
    first = ws(f"{a.ws_url}/ws/echo/?token={alice.access}")
    second = ws(f"{b.ws_url}/ws/echo/?token={alice.access}")
    with sockets(first, second):
        assert echo_ok(first) and echo_ok(second)
        third = ws(f"{a.ws_url}/ws/echo/?token={alice.access}")
        assert close_code(third) == 4429
        second.close()

        # Once B's socket is gone, its place is free on A.
        def reopen():
            conn = ws(f"{a.ws_url}/ws/echo/?token={alice.access}")
            try:
                return echo_ok(conn) and conn
            except ConnectionClosed:
                return None

        wait_for(reopen, what="a free place").close()
