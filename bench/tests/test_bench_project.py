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
def test_project_fanout_counts_by_seq(
    project: tuple[servers.Server, dict], tmp_path: Path
) -> None:
    server, env = project
    (point,) = run_loadgen(
        "fanout",
        "project",
        server,
        tmp_path / "r.jsonl",
        "--members",
        "12",
        "--publishers",
        "3",
        "--rate",
        "10",
        "--duration",
        "2",
        "--settle",
        "1.5",
        env=env,
    )
    assert point["count_by"] == "seq" and point["connect_failures"] == {}
    assert point["sent"] == 20 and point["expected"] == 20 * 12
    assert point["delivered"] == point["expected"]
    assert (point["lost"], point["dup"], point["stored_twice"]) == (0, 0, 0)
    assert point["seq_out_of_range"] == 0 and point["errors"] == {}


@pytest.mark.timeout(180)
def test_project_rooms_count_by_seq(
    project: tuple[servers.Server, dict], tmp_path: Path
) -> None:
    server, env = project
    (point,) = run_loadgen(
        "rooms",
        "project",
        server,
        tmp_path / "r.jsonl",
        "--rooms",
        "6",
        "--room-size",
        "4",
        "--rate",
        "24",
        "--duration",
        "2",
        "--settle",
        "1.5",
        env=env,
    )
    assert point["count_by"] == "seq"
    assert point["delivered"] == point["expected"] == 48 * 4
    assert (point["lost"], point["dup"], point["stored_twice"]) == (0, 0, 0)


@pytest.mark.timeout(180)
def test_project_sweep_keeps_rates_apart(
    project: tuple[servers.Server, dict], tmp_path: Path
) -> None:
    server, env = project
    recs = run_loadgen(
        "fanout",
        "project",
        server,
        tmp_path / "r.jsonl",
        "--members",
        "5",
        "--publishers",
        "2",
        "--sweep",
        "4,8",
        "--duration",
        "1",
        "--settle",
        "1.5",
        env=env,
    )
    points = [r for r in recs if r["kind"] == "point"]
    assert [p["rate"] for p in points] == [4, 8]
    assert all(p["delivered"] == p["expected"] == p["sent"] * 5 for p in points)
    assert all(p["lost"] == p["dup"] == 0 for p in points)


@pytest.mark.timeout(180)
def test_project_capacity_opens_authenticated_sockets(
    project: tuple[servers.Server, dict], tmp_path: Path
) -> None:
    server, env = project
    (cap,) = run_loadgen(
        "capacity",
        "project",
        server,
        tmp_path / "r.jsonl",
        "--sockets",
        "60",
        "--room-size",
        "20",
        "--concurrency",
        "20",
        "--hold",
        "0.5",
        "--settle",
        "2",
        env=env,
    )
    assert cap["opened"] == cap["still_open"] == 60 and cap["failures"] == {}
    assert cap["fds_open"] > cap["fds_before"] and cap["rss_per_socket_kb"] is not None
    assert cap["presence_rows_after_close"] == 0


@pytest.mark.timeout(180)
def test_project_soak_leaves_no_presence_row(
    project: tuple[servers.Server, dict], tmp_path: Path
) -> None:
    server, env = project
    (soak,) = run_loadgen(
        "soak",
        "project",
        server,
        tmp_path / "r.jsonl",
        "--cycles",
        "80",
        "--concurrency",
        "4",
        "--rooms",
        "3",
        "--settle",
        "2",
        "--sample-interval",
        "0.1",
        env=env,
    )
    assert soak["cycles"] == 80 and soak["failures"] == {}
    assert soak["unexpected_closes"] == {}
    assert soak["presence_rows_after_close"] == 0


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


@pytest.mark.timeout(600)
def test_run_all_quick_with_the_project(tmp_path: Path) -> None:
    proc = run_all_quick(tmp_path, "--targets", "project", timeout=580)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "Issue 7 targets" in text and "loadgen.py soak --target project" in text
    kinds = {
        orjson.loads(line)["kind"]
        for line in (tmp_path / "embedded" / "results.jsonl").read_bytes().splitlines()
    }
    assert kinds == {"capacity", "point", "sweep", "soak"}
