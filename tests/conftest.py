"""Fixtures of the cluster, chaos and security tests."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import harness


@pytest.fixture
def cluster(
    pg_database: str, own_redis: harness.Redis, tmp_path: Path
) -> Iterator[Callable[..., list[harness.Server]]]:
    """`cluster(n, **env)`: n real server processes on one PostgreSQL database and one Redis.

    The Redis is the test's own: a chaos test may stop it, and no other test's events share
    its groups. Leases are short so sweeps happen within a test's time. The servers stop
    (all at once) before their Redis and database go away.
    """
    servers: list[harness.Server] = []
    migrated: list[bool] = []

    def make(
        n: int = 2, *, database_url: str | None = None, **env: Any
    ) -> list[harness.Server]:
        env.setdefault("WS_PROCESS_LEASE_SECONDS", "6")
        # These tests send as fast as they can; the rate limit is tests/security's subject.
        env.setdefault("WS_MESSAGE_RATE", "10000")
        env.setdefault("WS_MESSAGE_BURST", "10000")
        if not migrated:
            direct = harness.base_env(DATABASE_URL=pg_database)
            harness.migrate(direct)
            migrated.append(True)
        full = harness.base_env(
            DATABASE_URL=database_url or pg_database, REDIS_URL=own_redis.url, **env
        )
        made = [harness.Server(env=full, workdir=tmp_path) for _ in range(n)]
        servers.extend(made)
        return [server.start() for server in made]

    yield make
    stop_all(servers)


def stop_all(servers: list[harness.Server]) -> None:
    """SIGTERM every server at once, then wait (killing what lingers)."""
    for server in servers:
        server.terminate()
    for server in servers:
        if server.proc is None:
            continue
        try:
            server.proc.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(Exception):
                server.kill()
