"""Fixtures of the bench tests: the peers, started once per session on free ports."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import servers


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requires_app: needs the project's app (manage.py serve, chat models)",
    )


@pytest.fixture(scope="session")
def ws_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    log = tmp_path_factory.mktemp("ws") / "server.log"
    server = servers.start_ws_peer(log_path=log)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def picows_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    # No skip when picows is missing: start_picows_peer fails, saying what to install
    # (it is in requirements-dev.txt, which `make test` installs).
    log = tmp_path_factory.mktemp("picows") / "server.log"
    server = servers.start_picows_peer(log_path=log)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stock_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    log = tmp_path_factory.mktemp("stock") / "server.log"
    server = servers.start_stock_peer(log_path=log)
    yield server
    server.stop()


@pytest.fixture
def peer(request: pytest.FixtureRequest) -> servers.Server:
    """The peer named by the test's `target` parameter."""
    return request.getfixturevalue(f"{request.param}_peer")


def run_loadgen(
    scenario: str,
    target: str,
    server: servers.Server,
    out: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> list[dict]:
    """bench/loadgen.py as a script (as run_all runs it); its records, checked exit 0."""
    cmd = [
        sys.executable,
        str(servers.BENCH_DIR / "loadgen.py"),
        scenario,
        "--target",
        target,
        "--url",
        server.url,
        "--server-pid",
        str(server.pid),
        "--out",
        str(out),
        "--quiet",
        *args,
    ]
    proc = subprocess.run(
        cmd,
        cwd=servers.PROJECT_ROOT,
        env=env or servers.base_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def run_all_quick(
    outdir: Path, *args: str, timeout: float = 280
) -> subprocess.CompletedProcess[str]:
    """`bench/run_all.py --quick ARGS --outdir OUTDIR`, as `make bench` users run it."""
    return subprocess.run(
        [
            sys.executable,
            str(servers.BENCH_DIR / "run_all.py"),
            "--quick",
            *args,
            "--outdir",
            str(outdir),
        ],
        cwd=servers.PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
