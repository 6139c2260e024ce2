"""A client that never reads: closed 4503 (or dropped once the close is queued), memory bounded."""

from __future__ import annotations

import contextlib
import re
import threading
import time

import pytest

from tests.support import (
    Frames,
    PeakRss,
    chat,
    client_frame,
    echo_ok,
    heartbeat_ok,
    http_get,
    raw_handshake,
    read_close_code,
    room_create,
    rss_kib,
    say,
    sockets,
    wait_for,
    ws,
)

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]

FRAME = 60_000  # bytes per frame, under WS_MAX_FRAME_BYTES
PUSHED = 2_000  # frames the slow client sends: 120 MB the server would have to hold


def _backlog_closed(server, route: str = "echo") -> float:
    status, text = http_get(server.url + "/metrics")
    assert status == 200
    pattern = rf'realtime_outbound_backlog_closed_total\{{route="{route}"\}} ([0-9.]+)'
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0


def test_a_client_that_never_reads_is_closed_4503_and_memory_stays_bounded(
    server_factory,
):
    server = server_factory(
        WS_MESSAGE_RATE="100000",
        WS_MESSAGE_BURST="100000",
        WS_MAX_OUTBOUND_BACKLOG="32",
    )
    with sockets(ws(f"{server.ws_url}/ws/echo/")) as (other,):
        assert echo_ok(other)
        baseline = rss_kib(server.pid)
        peak = [baseline]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                with contextlib.suppress(OSError):
                    peak[0] = max(peak[0], rss_kib(server.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        # A small receive window and no reads at all: the kernel buffers fill, then the
        # server's transport pauses, then its per-socket queue passes the bound.
        slow, head = raw_handshake(server.port, "/ws/echo/", rcvbuf=4096)
        assert head.startswith(b"HTTP/1.1 101"), head
        payload = client_frame(b"x" * FRAME)
        sent = 0
        dropped = False
        try:
            slow.settimeout(20)
            for _ in range(PUSHED):
                slow.sendall(payload)
                sent += 1
        except (ConnectionResetError, BrokenPipeError, TimeoutError):
            dropped = True
        # The server gave up on it: a close frame 4503 behind the unread backlog, or the
        # connection dropped after the close was queued; the metric says which it was.
        code = read_close_code(slow, timeout=20) if not dropped else None
        slow.close()
        assert code in (4503, None), code
        wait_for(lambda: _backlog_closed(server) >= 1, what="the 4503 counter")
        done.set()
        sampler.join(5)
        assert dropped or sent == PUSHED
        growth_mb = (peak[0] - baseline) / 1024
        # Without the bound the server would hold what the client pushed (~120 MB).
        assert growth_mb < 60, f"server RSS grew {growth_mb:.0f} MB"
        # The other socket never noticed.
        assert echo_ok(other)
        assert any(
            line.get("close_code") == 4503
            for line in server.log_lines()
            if line.get("event") == "close"
        )


def test_a_member_that_never_reads_a_busy_room_is_closed_4503_others_keep_up(
    server_factory,
):
    server = server_factory(
        WS_MAX_BODY_CHARS="60000",
        WS_MAX_FRAME_BYTES=str(128 * 1024),
        WS_MAX_OUTBOUND_BACKLOG="32",
        WS_MESSAGE_RATE="10000",
        WS_MESSAGE_BURST="10000",
    )
    alice, bob, mallory = (server.api.user(n) for n in ("alice", "bob", "mallory"))
    room_create(server, alice, "lobby")
    sender, _ = chat(server, alice, "lobby")
    reader = ws(f"{server.ws_url}/ws/chat/lobby/?token={bob.access}", max_queue=None)
    with sockets(sender, reader):
        slow, head = raw_handshake(
            server.port, f"/ws/chat/lobby/?token={mallory.access}", rcvbuf=4096
        )
        assert head.startswith(b"HTTP/1.1 101"), head
        baseline = rss_kib(server.pid)
        acks = Frames(sender)
        body = "y" * 50_000
        for i in range(300):  # 15 MB of frames to every member
            say(sender, f"{i}:{body}", f"c{i}")
            acks.until(lambda f, i=i: f.get("client_id") == f"c{i}")
            if i % 50 == 0:
                assert heartbeat_ok(sender)
        # The reader got every message, in seq order, while the non-reader sat there.
        frames = Frames(reader)
        frames.until(
            lambda f: f.get("type") == "message" and f["seq"] == 300, timeout=60
        )
        seqs = [f["seq"] for f in frames.of_type("message")]
        assert seqs == list(range(1, 301))
        wait_for(lambda: _backlog_closed(server, "chat") >= 1, what="the 4503 counter")
        try:
            code = read_close_code(slow, timeout=20)
        except OSError:
            code = None
        slow.close()
        assert code in (4503, None), code
        growth_mb = (rss_kib(server.pid) - baseline) / 1024
        assert growth_mb < 60, f"server RSS grew {growth_mb:.0f} MB"
        assert any(
            line.get("close_code") == 4503 and line.get("route") == "chat"
            for line in server.log_lines()
            if line.get("event") == "close"
        )


def _push_paced(server, frames: int, per_second: float) -> str:
    """An echo socket that sends `frames` big text frames at `per_second` and never reads;
    how it ended: "sent" (all went), "dropped" (the server cut it) or the close code."""
    slow, head = raw_handshake(server.port, "/ws/echo/", rcvbuf=4096)
    assert head.startswith(b"HTTP/1.1 101"), head
    payload = client_frame(b"z" * FRAME)
    started = time.monotonic()
    try:
        slow.settimeout(20)
        for i in range(frames):
            # Paced to stay inside the socket's token bucket: the rate limit is not
            # what ends this client.
            time.sleep(max(0.0, started + i / per_second - time.monotonic()))
            slow.sendall(payload)
    except (ConnectionResetError, BrokenPipeError, TimeoutError):
        return "dropped"
    try:
        code = read_close_code(slow, timeout=10)
    except OSError:
        return "dropped"
    except AssertionError:  # no close frame: it is still open
        return "sent"
    finally:
        slow.close()
    return "dropped" if code is None else str(code)


def test_echo_sockets_sending_big_frames_within_the_rate_are_bounded_by_bytes(
    server_factory,
):
    # WS_MAX_OUTBOUND_BACKLOG keeps its default (1000 frames, 60 MB of these): only the
    # byte bound (WS_MAX_OUTBOUND_BYTES, 1 MiB) can stop them in time.
    server = server_factory(WS_MESSAGE_RATE="100", WS_MESSAGE_BURST="100")
    with sockets(ws(f"{server.ws_url}/ws/echo/")) as (bystander,):
        assert echo_ok(bystander)
        endings: list[str] = []
        pushers = [
            threading.Thread(
                target=lambda: endings.append(_push_paced(server, 300, 50)),
                daemon=True,
            )
            for _ in range(4)
        ]
        with PeakRss(server.pid) as rss:
            for pusher in pushers:
                pusher.start()
            for pusher in pushers:
                pusher.join(60)
        # Before the byte bound the server held what they sent: 60-70 MB.
        assert rss.growth_mb < 25, f"server RSS grew {rss.growth_mb:.0f} MB"
        # Each was closed 4503, or dropped after its close was queued; none got
        # through its 300 frames.
        assert len(endings) == 4 and set(endings) <= {"4503", "dropped"}, endings
        wait_for(lambda: _backlog_closed(server) >= 4, what="four 4503 closes")
        assert echo_ok(bystander)
        closes = [
            line
            for line in server.log_lines()
            if line.get("event") == "close" and line.get("route") == "echo"
        ]
        assert len([c for c in closes if c.get("close_code") == 4503]) == 4
