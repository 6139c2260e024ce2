"""The storm scenario: its pure parts, its guards, and quick runs on a real cluster
and on an embedded process that is restarted.

The quick runs assert counts only (nothing lost, nothing twice on a socket, everyone
back, presence exact), never a timing.
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
from bench.storm import (
    Member,
    check_kill_target,
    full_jitter,
    member_placement,
    presence_mismatches,
)
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


def test_a_restart_puts_every_member_on_the_one_server() -> None:
    assert {member_placement(i, 4, servers=1)[1] for i in range(16)} == {0}


def test_presence_mismatches_name_each_room_whose_rows_are_not_its_open_sockets() -> (
    None
):
    rows = {"a": ["u1", "u2"], "b": ["u3", "ghost"], "c": [], "d": ["u6", "u6"]}
    open_members = {"a": ["u1", "u2"], "b": ["u3", "u4"], "c": ["u5"], "d": ["u6"]}
    assert presence_mismatches(rows, open_members) == [
        {"room": "b", "rows": 2, "open": 2, "extra": ["ghost"], "missing": ["u4"]},
        {"room": "c", "rows": 0, "open": 1, "extra": [], "missing": ["u5"]},
        # The same users, but a stale row of one who came back.
        {"room": "d", "rows": 2, "open": 1, "extra": [], "missing": []},
    ]
    assert presence_mismatches(open_members, open_members) == []


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
        {"kill_signal": "RESTART"},  # one server: a peer has nothing to do
        {"kill_signal": "RESTART", "peer_url": None, "publish_via": "survivor"},
        {"kill_signal": "RESTART", "peer_url": None, "rooms": 61},
    ],
)
def test_storm_refuses_a_bad_configuration(over: dict) -> None:
    with pytest.raises(loadgen.BenchError):
        loadgen.validate(_options(**over))


def test_storm_accepts_two_loopback_servers() -> None:
    loadgen.validate(_options())


def test_storm_restart_accepts_one_server_and_a_room_per_socket() -> None:
    loadgen.validate(_options(kill_signal="RESTART", peer_url=None, rooms=60))


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


def _sleeper(port: int) -> servers.Server:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    return servers.Server("sleeper", proc, port)


def test_the_restarter_starts_a_server_again_on_its_port_once_it_exits() -> None:
    first = _sleeper(4321)
    started: list[int] = []

    def start(port: int) -> servers.Server:
        started.append(port)
        return _sleeper(port)

    restarter = servers.Restarter(first, start)
    try:
        first.proc.terminate()  # as the load generator's SIGTERM
        first.proc.wait(10)
        restarter._thread.join(10)
        assert started == [4321] and restarter.restarted is not None
        assert restarter.restarted.proc.poll() is None
    finally:
        restarter.stop()
    assert restarter.restarted.proc.poll() is not None  # stop() stops the new one too


def test_the_restarter_does_not_start_again_a_server_the_bench_stops() -> None:
    started: list[int] = []

    def start(port: int) -> servers.Server:
        started.append(port)
        return _sleeper(port)

    restarter = servers.Restarter(_sleeper(4321), start)
    restarter.stop()  # the load generator failed before its signal: the bench stops
    assert started == [] and restarter.restarted is None


# A quick run on two real processes of one cluster (PostgreSQL + Redis)


@pytest.fixture
def two_processes(
    pg_database: str, own_redis: harness.Redis, tmp_path: Path
) -> Iterator[tuple[list[servers.Server], dict[str, str]]]:
    harness.migrate(harness.base_env(DATABASE_URL=pg_database))
    env = servers.project_env(database_url=pg_database, redis_url=own_redis.url)
    # A short lease: the presence check waits for the killed process's rows to be swept.
    env.update(
        DRAIN_TIMEOUT="3", DRAIN_LINGER_SECONDS="0.2", WS_PROCESS_LEASE_SECONDS="3"
    )
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
).split()


def assert_all_back_nothing_lost_or_twice_presence_exact(rec: dict) -> None:
    """The counts every storm must show, whatever stopped the process."""
    assert rec["opened"] == rec["still_open"] == 60
    assert rec["back"] == rec["victims"] and rec["all_back"]
    assert rec["stored"] > 0 and rec["sent"] >= rec["stored"]
    assert (rec["lost"], rec["duplicated"]) == (0, 0), (
        rec["lost_sample"],
        rec["duplicated_sample"],
    )
    assert rec["incomplete_welcomes"] == 0 and rec["unexpected_drops"] == {}
    # Presence, once the stopped process's rows are gone: the registry's users of each
    # room are its open members, and a fresh welcome counts them.
    assert rec["stopped_process_rows_left"] == 0
    assert rec["presence_mismatched_rooms"] == 0, rec["presence_sample"]
    assert rec["welcome_online_mismatched_rooms"] == 0, rec["welcome_online_sample"]
    assert rec["announced_mismatched_rooms"] == 0, rec["announced_sample"]
    assert rec["presence_exact"]


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
        *("--publish-via", "survivor"),
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
    on_victim = sum(member_placement(i, 4)[1] == 0 for i in range(60))  # 8 rounds of 4
    assert rec["victims"] == on_victim == 32
    assert rec["victim_drops"] == {"1006" if sig == "KILL" else "1012": 32}
    assert_all_back_nothing_lost_or_twice_presence_exact(rec)


# A quick run of the restart variant on one embedded process (SQLite, in-memory layer)


@pytest.mark.e2e
@pytest.mark.chaos
@pytest.mark.requires_app
@pytest.mark.timeout(120)
def test_storm_clients_of_a_restarted_embedded_process_all_come_back_to_it(
    tmp_path: Path,
) -> None:
    env = servers.project_env(database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    env.update(DRAIN_TIMEOUT="3", DRAIN_LINGER_SECONDS="0.2")
    servers.migrate(env)
    first = servers.start_project(env, log_path=tmp_path / "s0.log")
    # Started again exactly as the first time, on its port, with its database.
    restarter = servers.Restarter(
        first,
        lambda port: servers.start_project(env, port, log_path=tmp_path / "s1.log"),
    )
    try:
        (rec,) = run_loadgen(
            "storm",
            "project",
            first,
            tmp_path / "storm.jsonl",
            *QUICK_STORM,
            *("--kill-pid", str(first.pid), "--kill-signal", "RESTART"),
            env=env,
            timeout=90,
        )
        assert first.proc.wait(10) == 0  # its drain, then a clean exit
        assert restarter.error is None
        assert restarter.restarted is not None
        assert restarter.restarted.proc.poll() is None
    finally:
        restarter.stop()
    assert rec["kind"] == "storm" and rec["kill_signal"] == "RESTART"
    assert rec["victims"] == 60 and rec["victim_drops"] == {"1012": 60}
    assert_all_back_nothing_lost_or_twice_presence_exact(rec)


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
@pytest.mark.parametrize(
    "how",
    [["--peer-url", "ws://127.0.0.1:2"], ["--kill-signal", "RESTART"]],
    ids=["cluster", "restart"],
)
def test_run_all_storm_arguments_pass_the_generator_checks(
    size: str, how: list[str]
) -> None:
    from bench import run_all

    parser = argparse.ArgumentParser()
    loadgen.add_arguments(parser)
    args = getattr(run_all, size)["storm"].split()
    o = vars(parser.parse_args(["storm", *args, *how]))
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


def test_report_gives_presence_and_each_storms_time_target_a_verdict() -> None:
    from bench import report

    def storm(sig: str, p99: float, exact: bool, wrong: int) -> dict:
        return {
            "kind": "storm",
            "scenario": "storm",
            "target": "project",
            "kill_signal": sig,
            "sockets": 10_000,
            "rooms": 200,
            "rate": 20.0,
            "victims": 10_000,
            "back": 10_000,
            "all_back": True,
            "time_to_welcome": {"p50_ms": 4000.0, "p99_ms": p99, "max_ms": p99},
            "back_per_s": 600.0,
            "stored": 400,
            "lost": 0,
            "duplicated": 0,
            "unexpected_drops": {},
            "presence_exact": exact,
            "presence_mismatched_rooms": wrong,
            "welcome_online_mismatched_rooms": 0,
            "announced_mismatched_rooms": 0,
            "stopped_process_rows_left": 0,
        }

    machine = {"cpu": "c", "cores": "2", "kernel": "k", "python": "3", "packages": ""}
    met = report.render(
        {"embedded": [storm("RESTART", 12_000.0, True, 0)]},
        command="x",
        machine=machine,
        plot=None,
    )
    assert "| 0 | yes |" in met  # no unexpected drop, presence exact
    assert (
        "| storm (RESTART): presence exact once all are back and the stopped "
        "process's rows are gone (registry = open sockets; welcome counts and announced "
        "users agree) | met (0 of 200 rooms wrong, 0 welcome counts wrong, 0 announced "
        "wrong, 0 rows left) |"
    ) in met
    assert (
        "| storm (RESTART): all back within 15 s (p99) of the SIGTERM, nothing lost or "
        "twice | met (p99 12,000.0 ms, 10,000 of 10,000 back, lost 0, twice 0) |"
    ) in met
    missed = report.render(
        {"embedded": [storm("RESTART", 16_000.0, False, 3)]},
        command="x",
        machine=machine,
        plot=None,
    )
    assert "| 0 | no |" in missed
    assert "MISSED (3 of 200 rooms wrong" in missed
    assert "MISSED (p99 16,000.0 ms" in missed
    killed = report.render(
        {"cluster": [storm("KILL", 10_500.0, True, 0)]},
        command="x",
        machine=machine,
        plot=None,
    )
    assert (
        "| storm (KILL): all back within 10 s (p99) of the SIGKILL, nothing lost or "
        "twice | MISSED (p99 10,500.0 ms"
    ) in killed


def test_the_report_holds_capacity_to_issue_13s_door_targets_by_mode():
    from bench import report

    cap = {
        "kind": "capacity",
        "target": "project",
        "sockets": 19_000,
        "opened": 19_000,
        "still_open": 19_000,
        "handshakes_per_s": 1_100.0,
        "server_cpu_ms_per_handshake": 0.79,
        "rss_per_socket_kb": 15.8,
    }
    embedded = dict(report.capacity_checks({**cap, "label": "embedded"}))
    assert embedded["capacity: >= 1,200 authenticated handshakes/s (embedded)"] == (
        "MISSED (1,100.0/s)"
    )
    assert embedded["capacity: server CPU per handshake <= 0.8 ms"] == "met (0.79 ms)"
    cluster = dict(report.capacity_checks({**cap, "label": "cluster", "still_open": 1}))
    assert cluster["capacity: >= 1,000 authenticated handshakes/s (cluster)"] == (
        "met (1,100.0/s)"
    )
    assert "capacity: server CPU per handshake <= 0.8 ms" not in cluster
    held = "capacity: <= 20 KB per idle socket, every one still open after the hold"
    assert cluster[held] == "MISSED (15.80 KB, 1 of 19,000 open)"
