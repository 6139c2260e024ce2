"""One process killed with SIGKILL: survivors heal its presence; its clients lose nothing."""

from __future__ import annotations

import time

import pytest
from websockets.exceptions import ConnectionClosed

from tests.support import Frames, chat, is_message, room_create, say, sockets

pytestmark = [pytest.mark.e2e, pytest.mark.chaos, pytest.mark.cluster]


def test_sigkilled_process_presence_heals_and_its_clients_resume_elsewhere(cluster):
    a, b = cluster(2, WS_PROCESS_LEASE_SECONDS="3", WS_PRESENCE_INTERVAL="0.2")
    alice, bob = a.api.user("alice"), a.api.user("bob")
    room_create(a, alice, "lobby")
    cb, _ = chat(b, bob, "lobby")
    ca, _ = chat(a, alice, "lobby")
    with sockets(ca, cb):
        fa, fb = Frames(ca), Frames(cb)
        fb.until(lambda f: f.get("type") == "presence" and alice.frame() in f["joins"])
        for i in range(5):
            say(ca, f"a{i}", f"ca{i}")
            fa.until(is_message(f"a{i}"))
        last_seen = max(f["seq"] for f in fa.of_type("message"))

        killed_at = time.monotonic()
        a.kill()  # no drain, no close frames, its registry rows stay behind
        with pytest.raises(ConnectionClosed):
            while True:
                ca.recv(timeout=20)
        # Bob keeps talking while alice is away.
        for i in range(3):
            say(cb, f"b{i}", f"cb{i}")
            fb.until(is_message(f"b{i}"))

        left = fb.until(
            lambda f: f.get("type") == "presence" and alice.frame() in f["leaves"],
            timeout=90,
        )
        assert left["count"] == 1
        assert time.monotonic() - killed_at < 90
        status, online = b.api.get("/api/rooms/lobby/presence/", token=bob.access)
        assert status == 200 and "alice" not in str(online)

        # Alice reconnects to the survivor from where she was: nothing lost.
        ca2, welcome = chat(b, alice, "lobby", since=last_seen)
        with sockets(ca2):
            assert [m["body"] for m in welcome["history"]] == ["b0", "b1", "b2"]
            fb.until(
                lambda f: f.get("type") == "presence" and alice.frame() in f["joins"]
            )
    rows = b.manage(
        "shell",
        "-c",
        "from realtime.registry.models import ServerProcess as P; print(P.objects.count())",
    )
    assert rows.strip().splitlines()[-1] == "1"  # only the survivor holds a lease
