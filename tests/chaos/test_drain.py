"""SIGTERM: readiness 503 at once, new handshakes refused, sockets closed 1012, exit 0."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
from websockets.exceptions import ConnectionClosed

from tests.support import (
    Frames,
    chat,
    client_frame,
    close_code,
    echo_ok,
    http_get,
    is_message,
    raw_handshake,
    refused_status,
    room_create,
    say,
    sockets,
    ws,
)

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]


def test_sigterm_closes_sockets_1012_refuses_new_ones_and_exits_cleanly(
    cluster, postgres
):
    a, b = cluster(2, DRAIN_TIMEOUT="10", DRAIN_LINGER_SECONDS="3")
    alice = a.api.user("alice")
    bob = a.api.user("bob")
    conns = [ws(f"{a.ws_url}/ws/echo/?token={alice.access}") for _ in range(3)]
    conns.append(ws(f"{a.ws_url}/ws/echo/"))
    survivor = ws(f"{b.ws_url}/ws/echo/?token={bob.access}")
    with sockets(*conns, survivor):
        assert all(echo_ok(c) for c in conns)
        rows = a.manage("shell", "-c", _COUNT_ROWS)
        assert rows.strip().endswith("4"), rows  # 3 of alice's on A, 1 of bob's on B

        statuses: list[int] = []
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                try:
                    statuses.append(http_get(a.url + "/readyz", timeout=2)[0])
                except OSError:
                    statuses.append(-1)  # the port closed: the process is going
                time.sleep(0.02)

        started = time.monotonic()
        a.terminate()
        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        try:
            codes = [close_code(c) for c in conns]
            assert codes == [1012, 1012, 1012, 1012]
            # While it lingers: not ready, and a new handshake is refused before accept.
            assert http_get(a.url + "/readyz")[0] == 503
            assert http_get(a.url + "/readyz")[1]["failing"][0] == "draining"
            assert refused_status(f"{a.ws_url}/ws/echo/") == 403
            assert a.wait(40) == 0
        finally:
            stop.set()
            poller.join(5)
        elapsed = time.monotonic() - started
        assert elapsed < 10 + 3 + 10, elapsed  # DRAIN_TIMEOUT + linger + a bound
        # Readiness went 503 and never back to 200 before the port closed.
        assert 503 in statuses, statuses
        assert 200 not in statuses[statuses.index(503) :], statuses
        # Presence rows of the drained process are gone; the other process's stay.
        rows = b.manage("shell", "-c", _COUNT_ROWS)
        assert rows.strip().endswith("1"), rows
        assert echo_ok(survivor)
        assert http_get(b.url + "/readyz")[0] == 200
    log = a.log_text()
    assert "drained in" in log


_COUNT_ROWS = (
    "from realtime.registry.models import Connection; print(Connection.objects.count())"
)


def test_a_message_in_flight_when_sigterm_lands_is_stored_once_and_never_half(cluster):
    a, b = cluster(
        2, DRAIN_LINGER_SECONDS="0", WS_MESSAGE_RATE="10000", WS_MESSAGE_BURST="10000"
    )
    alice = a.api.user("alice")
    room_create(a, alice, "lobby")
    conn, _ = chat(a, alice, "lobby")
    frames = Frames(conn)
    sent: list[str] = []
    acked: dict[str, int] = {}
    code = None
    with sockets(conn):
        for i in range(5):
            say(conn, f"m{i}", f"c{i}")
            sent.append(f"c{i}")
            frames.until(is_message(f"m{i}"))
        try:
            for i in range(5, 400):
                say(conn, f"m{i}", f"c{i}")
                sent.append(f"c{i}")
                if i == 8:
                    a.terminate()  # lands while messages are queued and being stored
        except ConnectionClosed:
            pass
        try:
            while True:
                frames.until(lambda f: False, timeout=20)
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
    acked = {f["client_id"]: f["seq"] for f in frames.of_type("message")}
    assert code == 1012
    assert a.wait(40) == 0
    assert len(acked) >= 5
    # Every acknowledged message is stored; what was not acknowledged is resent (same
    # client_id) to the other process: stored exactly once, with seq still gapless.
    conn2, welcome = chat(b, alice, "lobby")
    with sockets(conn2):
        frames2 = Frames(conn2)
        for cid in sent:
            say(conn2, cid.replace("c", "m", 1), cid)
            got = frames2.until(lambda f, cid=cid: f.get("client_id") == cid)
            if cid in acked:
                assert got["seq"] == acked[cid]  # the original, not a second copy
    status, page = b.api.get(
        "/api/rooms/lobby/messages/?after=0&limit=200", token=alice.access
    )
    rows = page["results"] if isinstance(page, dict) else page
    status2, page2 = b.api.get(
        "/api/rooms/lobby/messages/?after=200&limit=200", token=alice.access
    )
    rows += page2["results"] if isinstance(page2, dict) else page2
    assert status == status2 == 200
    assert sorted(m["client_id"] for m in rows) == sorted(sent)
    assert [m["seq"] for m in rows] == list(range(1, len(sent) + 1))


def test_a_drain_of_many_sockets_and_a_non_reader_stays_within_its_bound(cluster):
    # 151 anonymous sockets from one address: over WS_MAX_ANON_CONNECTIONS_PER_IP's 50.
    (a,) = cluster(
        1,
        DRAIN_TIMEOUT="10",
        DRAIN_LINGER_SECONDS="1",
        WS_MAX_ANON_CONNECTIONS_PER_IP="0",
    )
    users = [a.api.user(f"u{i}") for i in range(10)]
    conns = [ws(f"{a.ws_url}/ws/echo/") for _ in range(150)]
    conns += [ws(f"{a.ws_url}/ws/echo/?token={u.access}") for u in users]
    # And one that never reads, with a full pipe: its close cannot be flushed.
    stuck, head = raw_handshake(a.port, "/ws/echo/", rcvbuf=4096)
    assert head.startswith(b"HTTP/1.1 101")
    stuck.settimeout(5)
    with contextlib.suppress(OSError):
        for _ in range(200):
            stuck.sendall(client_frame(b"z" * 60_000))
    with sockets(*conns):
        started = time.monotonic()
        a.terminate()
        assert {close_code(c) for c in conns} == {1012}
        assert a.wait(40) == 0
        assert time.monotonic() - started < 10 + 1 + 10
    stuck.close()
    rows = a.manage("shell", "-c", _COUNT_ROWS)
    assert rows.strip().endswith("0"), rows
