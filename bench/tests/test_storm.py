"""The storm scenario: its pure parts, its guards, and a quick run on a real cluster.

The quick run asserts counts only (nothing lost, nothing twice on a socket, everyone
back), never a timing.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bench import loadgen, servers
from bench.storm import Member, check_kill_target, full_jitter, member_placement
from bench.tests.conftest import run_loadgen
from tests import harness

# The pure parts


def test_full_jitter_waits_within_a_window_that_doubles_up_to_the_cap() -> None:
    rng = random.Random(1)
    for attempt, window in ((0, 0.5), (1, 1.0), (2, 2.0), (3, 3.0), (40, 3.0)):
        waits = [full_jitter(attempt, 0.5, 3.0, rng) for _ in range(200)]
        assert all(0.0 <= w <= window for w in waits)
        assert max(waits) > window * 0.8  # the whole window is used, not a fixed delay


def test_every_room_has_members_on_both_servers() -> None:
    placed = [member_placement(i, 4) for i in range(16)]
    for room in range(4):
        assert {server for r, server in placed if r == room} == {0, 1}
    assert sum(server for _, server in placed) == 8  # half on each


def test_a_socket_counts_history_and_live_alike_and_never_dedupes() -> None:
    m = Member(0, room=0, server=0, base=10)
    for seq in (9, 10, 11, 12, 12, 14):  # 9 and 10 came before the run
        m.got(seq)
    assert m.frames == 4 and m.unique() == 3 and m.last_seq == 14
    assert m.lost_seqs(15) == [13, 15]
    assert m.repeated_seqs() == [12]


def _options(**over: object) -> dict:
    o = {
        "scenario": "storm",
        "target": "project",
        "url": "ws://127.0.0.1:9001",
        "peer_url": "ws://127.0.0.1:9002",
        "sockets": 60,
        "rooms": 4,
    }
    parser = argparse.ArgumentParser()
    loadgen.add_arguments(parser)
    args = vars(parser.parse_args(["storm"]))
    args.update(o)
    args.update(over)
    return args


@pytest.mark.parametrize(
    "over",
    [
        {"peer_url": None},
        {"peer_url": "ws://127.0.0.1:9001"},  # the same server twice
        {"peer_url": "ws://10.0.0.2:9002"},  # not this machine
        {"target": "ws"},  # no welcome, seq or since to count by
        {"rooms": 40},  # fewer than two sockets a room
    ],
)
def test_storm_refuses_a_bad_configuration(over: dict) -> None:
    with pytest.raises(loadgen.BenchError):
        loadgen.validate(_options(**over))


def test_storm_accepts_two_loopback_servers() -> None:
    loadgen.validate(_options())


def test_only_the_process_listening_on_the_victim_port_may_be_signalled() -> None:
    port = servers.free_port()
    for pid in (1, os.getpid()):
        with pytest.raises(loadgen.BenchError):
            check_kill_target(pid, port, servers.free_port())
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with pytest.raises(loadgen.BenchError, match="does not listen"):
            check_kill_target(idle.pid, port, servers.free_port())
    finally:
        idle.kill()
        idle.wait()


# A quick run on two real processes of one cluster (PostgreSQL + Redis)


@pytest.fixture
def two_processes(
    pg_database: str, own_redis: harness.Redis, tmp_path: Path
) -> Iterator[tuple[list[servers.Server], dict[str, str]]]:
    harness.migrate(harness.base_env(DATABASE_URL=pg_database))
    env = servers.project_env(database_url=pg_database, redis_url=own_redis.url)
    env.update(DRAIN_TIMEOUT="3", DRAIN_LINGER_SECONDS="0.2")
    # Both start at once (each waits on its own /healthz): a few seconds less.
    with ThreadPoolExecutor(2) as pool:
        starting = [
            pool.submit(servers.start_project, env, log_path=tmp_path / f"s{k}.log")
            for k in range(2)
        ]
    started = [f.result() for f in starting if f.exception() is None]
    try:
        if len(started) < 2:
            raise next(f.exception() for f in starting if f.exception())  # type: ignore[misc]
        yield started, env
    finally:
        for server in started:  # the killed one is gone already: stop() skips it
            server.stop()


QUICK_STORM = (
    "--sockets 60 --rooms 4 --rate 20 --concurrency 20 --settle 0.5 --kill-after 1.5"
    " --tail 1 --drain 5 --backoff-base 0.3 --backoff-cap 2 --reconnect-timeout 30"
    " --publish-via survivor"
).split()


@pytest.mark.e2e
@pytest.mark.cluster
@pytest.mark.chaos
@pytest.mark.requires_app
@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig", ["KILL", "TERM"])
def test_storm_clients_of_a_stopped_process_all_come_back_missing_nothing_seen_twice(
    two_processes: tuple[list[servers.Server], dict[str, str]],
    tmp_path: Path,
    sig: str,
) -> None:
    (victim, survivor), env = two_processes
    out = tmp_path / "storm.jsonl"
    (rec,) = run_loadgen(
        "storm",
        "project",
        victim,
        out,
        *QUICK_STORM,
        "--peer-url",
        survivor.url,
        "--peer-pid",
        str(survivor.pid),
        "--kill-pid",
        str(victim.pid),
        "--kill-signal",
        sig,
        env=env,
        timeout=90,
    )
    assert victim.proc.wait(10) == (-9 if sig == "KILL" else 0)
    assert survivor.proc.poll() is None
    assert rec["kind"] == "storm" and rec["kill_signal"] == sig
    assert rec["opened"] == rec["still_open"] == 60
    on_victim = sum(member_placement(i, 4)[1] == 0 for i in range(60))  # 8 rounds of 4
    assert rec["victims"] == rec["back"] == on_victim == 32 and rec["all_back"]
    assert rec["stored"] > 0 and rec["sent"] >= rec["stored"]
    assert (rec["lost"], rec["duplicated"]) == (0, 0), (
        rec["lost_sample"],
        rec["duplicated_sample"],
    )
    assert rec["victim_drops"] == {"1006" if sig == "KILL" else "1012": 32}
    assert rec["incomplete_welcomes"] == 0 and rec["unexpected_drops"] == {}


def test_the_script_refuses_a_storm_without_a_survivor() -> None:
    proc = subprocess.run(
        [sys.executable, str(servers.BENCH_DIR / "loadgen.py"), "storm"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "--peer-url" in proc.stderr


# The wiring: run_all's arguments and the report's table


@pytest.mark.parametrize("size", ["FULL", "QUICK"])
def test_run_all_storm_arguments_pass_the_generator_checks(size: str) -> None:
    from bench import run_all

    parser = argparse.ArgumentParser()
    loadgen.add_arguments(parser)
    args = getattr(run_all, size)["storm"].split()
    o = vars(parser.parse_args(["storm", *args, "--peer-url", "ws://127.0.0.1:2"]))
    loadgen.validate(o)
    assert o["sockets"] == (10_000 if size == "FULL" else 60)
    assert o["rooms"] == (200 if size == "FULL" else 4)


def test_report_shows_each_storm_with_its_counts() -> None:
    from bench import report

    rec = {
        "kind": "storm",
        "scenario": "storm",
        "target": "project",
        "kill_signal": "KILL",
        "sockets": 10_000,
        "rooms": 200,
        "rate": 20.0,
        "victims": 5_000,
        "back": 5_000,
        "all_back": True,
        "time_to_welcome": {"p50_ms": 3100.0, "p99_ms": 9000.5, "max_ms": 9800.0},
        "back_per_s": 512.3,
        "stored": 400,
        "lost": 0,
        "duplicated": 0,
        "unexpected_drops": {},
    }
    text = report.render(
        {"cluster": [rec]},
        command="x",
        machine={
            "cpu": "c",
            "cores": "2",
            "kernel": "k",
            "python": "3",
            "packages": "",
        },
        plot=None,
    )
    assert "### storm" in text
    assert "| KILL | 10,000 | 200 | 20.0 | 5,000 | 5,000 | yes |" in text
    assert "3,100.0 / 9,000.5 / 9,800.0" in text
