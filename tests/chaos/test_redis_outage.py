"""Redis stopped mid-broadcast and started again (PROTOCOL.md 6): nothing acknowledged is
lost, clients resume by seq, cross-process delivery comes back by itself."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests import harness
from tests.support import (
    Frames,
    chat,
    http_get,
    is_message,
    room_create,
    say,
    sockets,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.chaos, pytest.mark.cluster]

SENT = 40
STOP_AT = 12


def _degraded(server) -> list[str]:
    """What /readyz names as degraded; it stays 200 whatever Redis does (PROTOCOL.md 2)."""
    status, body = http_get(server.url + "/readyz")
    assert status == 200, body  # a Redis outage must not take every pod out of rotation
    return body.get("degraded", [])


def test_redis_outage_loses_nothing_acknowledged_and_delivery_resumes(
    cluster, own_redis
):
    a, b = cluster(2)
    alice, bob = a.api.user("alice"), a.api.user("bob")
    room_create(a, alice, "lobby")
    (ca, _), (cb, _) = chat(a, alice, "lobby"), chat(b, bob, "lobby")
    with sockets(ca, cb):
        fa, fb = Frames(ca), Frames(cb)
        acked: list[int] = []
        for i in range(SENT):
            if i == STOP_AT:
                own_redis.stop()  # mid-broadcast: messages keep coming
            say(ca, f"m{i}", f"c{i}")
            # Stored and acknowledged, Redis or not: the sender's own process delivers.
            acked.append(fa.until(is_message(f"m{i}"))["seq"])
        assert acked == list(range(1, SENT + 1))
        # Every socket hears once that live delivery between servers is interrupted.
        for frames in (fa, fb):
            notice = frames.until(
                lambda f: f.get("type") == "system" and f.get("degraded") is True
            )
            assert notice["body"]
        assert len([f for f in fa.seen if f.get("degraded") is True]) == 1
        wait_for(
            lambda: "channel_layer" in _degraded(a),
            what="A's readiness to name the layer",
        )
        wait_for(
            lambda: "channel_layer" in _degraded(b),
            what="B's readiness to name the layer",
        )
        assert _degraded(a) == ["channel_layer"]  # still 200: the database answers

        own_redis.start()  # the same port, empty: every group must be joined again
        wait_for(
            lambda: not _degraded(a) and not _degraded(b), timeout=30, what="recovery"
        )
        fb.until(
            lambda f: f.get("type") == "system" and f.get("degraded") is False,
            timeout=30,
        )
        # Cross-process delivery is back without a restart, both ways.
        say(ca, "after", "c-after")
        after = fb.until(is_message("after"))
        assert after["seq"] == SENT + 1
        say(cb, "reply", "c-reply")
        assert fa.until(is_message("reply"))["seq"] == SENT + 2

        # What the outage cost B's socket live, B's process repaired from the database
        # (chat/repair.py): every seq reaches Bob, each once, without a resume.
        everything = set(range(1, SENT + 3))

        def all_seen(_frame: dict) -> bool:
            return {f["seq"] for f in fb.of_type("message")} >= everything

        if not all_seen({}):
            fb.until(all_seen, timeout=30)
        seqs = [f["seq"] for f in fb.of_type("message")]
        assert sorted(seqs) == sorted(everything)

        # And a resume from any seq misses nothing either (the history never drops).
        cb2, welcome = chat(b, bob, "lobby", since=STOP_AT // 2)
        cb2.close()
        resumed = [m["seq"] for m in welcome["history"]]
        assert welcome["complete"] is True
        assert resumed == list(range(STOP_AT // 2 + 1, SENT + 3))


def test_a_frozen_redis_never_blocks_local_delivery_and_is_noticed(cluster, own_redis):
    # SIGSTOP: connections stay open and nothing answers, the case where pub/sub calls
    # hang instead of raising. Every layer call is bounded; local delivery never waits.
    a, b = cluster(2)
    alice, bob = a.api.user("alice"), a.api.user("bob")
    room_create(a, alice, "lobby")
    (ca, _), (cb, _) = chat(a, alice, "lobby"), chat(b, bob, "lobby")
    with sockets(ca, cb):
        fa, fb = Frames(ca), Frames(cb)
        os.kill(own_redis.proc.pid, signal.SIGSTOP)
        try:
            for i in range(5):
                started = time.monotonic()
                say(ca, f"frozen {i}", f"f{i}")
                fa.until(is_message(f"frozen {i}"))
                assert time.monotonic() - started < 3, "local delivery waited on Redis"
            for frames in (fa, fb):
                frames.until(lambda f: f.get("degraded") is True, timeout=30)
            wait_for(lambda: "channel_layer" in _degraded(a), what="A degraded")
        finally:
            os.kill(own_redis.proc.pid, signal.SIGCONT)
        wait_for(
            lambda: not _degraded(a) and not _degraded(b), timeout=30, what="recovery"
        )
        say(ca, "thawed", "t-1")
        assert fb.until(is_message("thawed"))["seq"] == 6


def test_a_process_started_while_redis_is_down_serves_and_joins_later(
    cluster, own_redis
):
    own_redis.stop()
    (a,) = cluster(1)
    assert "channel_layer" in _degraded(a)
    alice = a.api.user("alice")
    room_create(a, alice, "lobby")
    ca, _ = chat(a, alice, "lobby")
    with sockets(ca):
        fa = Frames(ca)
        say(ca, "alone", "c-1")
        assert fa.until(is_message("alone"))["seq"] == 1  # stored and delivered locally
        own_redis.start()
        wait_for(lambda: not _degraded(a), timeout=30, what="A ready")
        (b,) = cluster(1)
        bob = b.api.tokens("alice")
        cb, _ = chat(
            b, harness.User(alice.id, "alice", bob["access"], bob["refresh"]), "lobby"
        )
        with sockets(cb):
            say(cb, "from B", "c-2")
            assert fa.until(is_message("from B"))["seq"] == 2


def test_a_command_run_while_redis_is_down_stores_and_succeeds(cluster, own_redis):
    (a,) = cluster(1)
    bob = a.api.user("bob")
    own_redis.stop()
    # The command's service commits, then the live relay fails: logged, not raised.
    out = a.manage("send_notification", "bob", "--title", "during the outage")
    assert "stored but not relayed live" in out
    status, page = a.api.get("/api/notifications/", token=bob.access)
    assert status == 200
    assert [n["title"] for n in page["results"]] == ["during the outage"]
