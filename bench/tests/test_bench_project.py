"""The bench tools against the project itself (quick, small N, low rate, seconds).

These need the app: `manage.py serve`, `manage.py migrate`, `chat.models.Room`,
`Message(seq)`, `Presence`, simplejwt tokens, and "bench" in INSTALLED_APPS for the
manage.py commands. They assert that the tools run and count correctly (by `seq`),
never a timing.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from bench import servers
from bench.tests.conftest import run_all_quick, run_loadgen

pytestmark = pytest.mark.requires_app


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[servers.Server, dict]]:
    tmp = tmp_path_factory.mktemp("project")
    env = servers.project_env(database_url=f"sqlite:///{tmp / 'bench.sqlite3'}")
    servers.migrate(env, tmp / "migrate.log")
    server = servers.start_project(env, log_path=tmp / "server.log")
    yield server, env
    server.stop()


@pytest.mark.timeout(180)
def test_manage_py_loadtest_and_soak(
    project: tuple[servers.Server, dict], tmp_path: Path
) -> None:
    server, env = project
    out = tmp_path / "r.jsonl"
    for cmd in (
        [
            "loadtest",
            "fanout",
            "--members",
            "4",
            "--publishers",
            "1",
            "--rate",
            "5",
            "--duration",
            "1",
            "--settle",
            "1.5",
        ],
        ["soak", "--cycles", "20", "--concurrency", "2", "--settle", "1"],
    ):
        proc = subprocess.run(
            [
                sys.executable,
                "manage.py",
                *cmd,
                "--url",
                server.url,
                "--out",
                str(out),
                "--quiet",
            ],
            cwd=servers.PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
    recs = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [r["kind"] for r in recs] == ["point", "soak"]
    assert recs[0]["delivered"] == recs[0]["sent"] * 4 == 20
    assert recs[1]["cycles"] == 20


@pytest.mark.timeout(180)
def test_fanout_activity_delivers_every_message_as_chat_and_activity_frames(
    project: tuple[servers.Server, dict], tmp_path: Path
) -> None:
    """Issue 15's bench, small: each member has a chat and a notify socket and belongs
    to the room, so every message reaches every member twice: counts only."""
    server, env = project
    members = 6
    recs = run_loadgen(
        "fanout_activity",
        "project",
        server,
        tmp_path / "r.jsonl",
        *("--members", str(members), "--publishers", "2", "--duration", "1"),
        *("--sweep", "5,10", "--settle", "1", "--drain", "5"),
        env=env,
    )
    points = [r for r in recs if r["kind"] == "point"]
    assert [p["rate"] for p in points] == [5, 10]
    for p in points:
        assert p["listening"] == 2 * members and p["sent"] > 0
        assert p["chat_delivered"] == p["chat_expected"] == p["sent"] * members
        assert p["activity_delivered"] == p["activity_expected"] == p["sent"] * members
        assert p["delivered"] == p["expected"]
        assert (p["lost"], p["dup"], p["stored_twice"]) == (0, 0, 0)
    (sweep,) = [r for r in recs if r["kind"] == "sweep"]
    assert sweep["scenario"] == "fanout_activity"


@pytest.mark.timeout(180)
def test_fanout_updates_delivers_every_edit_to_every_member_once(
    project: tuple[servers.Server, dict], tmp_path: Path
) -> None:
    """Issue 16's bench, small: publishers edit their one message again and again, and
    every member gets each edit once, as `message_updated`: counts only."""
    server, env = project
    members = 6
    recs = run_loadgen(
        "fanout_updates",
        "project",
        server,
        tmp_path / "r.jsonl",
        *("--members", str(members), "--publishers", "2", "--duration", "1"),
        *("--sweep", "5,10", "--settle", "1", "--drain", "5"),
        env=env,
    )
    points = [r for r in recs if r["kind"] == "point"]
    assert [p["rate"] for p in points] == [5, 10]
    for p in points:
        assert p["listening"] == members and p["sent"] > 0
        assert p["delivered"] == p["expected"] == p["sent"] * members
        assert (p["lost"], p["dup"]) == (0, 0)


@pytest.mark.timeout(600)
def test_run_all_quick_with_the_project(tmp_path: Path) -> None:
    # fanout_activity and fanout_updates have quick tests of their own (above).
    proc = run_all_quick(
        tmp_path,
        *("--targets", "project", "--scenarios", "capacity,fanout,rooms,soak,search"),
        timeout=580,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "Issue 7 targets" in text and "loadgen.py soak --target project" in text
    recs = [
        orjson.loads(line)
        for line in (tmp_path / "embedded" / "results.jsonl").read_bytes().splitlines()
    ]
    assert {r["kind"] for r in recs} == {
        "capacity",
        "point",
        "sweep",
        "soak",
        "search",
    }
    (search,) = [r for r in recs if r["kind"] == "search"]
    assert search["vendor"] == "sqlite" and search["messages"] == 2000
    assert "### search" in text
    # Every scenario against the project, counted by seq: nothing lost, repeated or
    # stored twice at the quick rates; each rate of a sweep is its own point.
    points = [r for r in recs if r["kind"] == "point"]
    assert {p["scenario"] for p in points} == {"fanout", "rooms"}
    for scenario in ("fanout", "rooms"):
        rates = [p["rate"] for p in points if p["scenario"] == scenario]
        assert len(rates) == len(set(rates)) >= 2
    for p in points:
        assert p["count_by"] == "seq" and p["sent"] > 0
        assert p["delivered"] == p["expected"]
        assert (p["lost"], p["dup"], p["stored_twice"]) == (0, 0, 0)
    (cap,) = [r for r in recs if r["kind"] == "capacity"]
    assert cap["opened"] == cap["still_open"] == cap["sockets"]
    assert cap["failures"] == {} and cap["presence_rows_after_close"] == 0
    assert cap["fds_open"] > cap["fds_before"] and cap["rss_per_socket_kb"] is not None
    (soak,) = [r for r in recs if r["kind"] == "soak"]
    assert soak["cycles"] > 0 and soak["failures"] == {}
    assert soak["unexpected_closes"] == {} and soak["presence_rows_after_close"] == 0
