"""Fixtures every test may use: real servers, PostgreSQL, Redis, users."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import harness


def _require(what: str, factory: Callable[[], object]) -> object:
    try:
        return factory()
    except harness.ServiceUnavailable as exc:
        # Never a quiet skip: a missing service is a failure that says what to install.
        pytest.fail(f"{what} is required by this test: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def postgres() -> Iterator[harness.Postgres]:
    """The machine's PostgreSQL, or a throwaway one started for the session."""
    pg = _require("PostgreSQL", harness.find_or_start_postgres)
    yield pg  # type: ignore[misc]
    pg.stop()  # type: ignore[attr-defined]


@pytest.fixture
def pg_database(postgres: harness.Postgres) -> Iterator[str]:
    """A fresh, empty PostgreSQL database URL, dropped afterwards."""
    name = f"rt_test_{uuid.uuid4().hex[:10]}"
    url = postgres.create_database(name)
    yield url
    postgres.drop_database(name)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[harness.Redis]:
    """The machine's Redis (never stopped by tests), or a throwaway one."""
    server = _require("Redis", harness.find_or_start_redis)
    yield server  # type: ignore[misc]
    server.stop()  # type: ignore[attr-defined]  # stops only one the tests started


@pytest.fixture
def own_redis() -> Iterator[harness.Redis]:
    """A redis-server of this test's own, which it may stop and start."""
    server = _require("redis-server", harness.own_redis)
    yield server  # type: ignore[misc]
    server.stop()  # type: ignore[attr-defined]


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., harness.Server]]:
    """Start real `manage.py serve` processes: `make(**env)`; all stopped at the end.

    Servers made by one factory share one migrated SQLite database unless DATABASE_URL
    is given (a cluster test passes PostgreSQL and REDIS_URL).
    """
    servers: list[harness.Server] = []
    migrated: set[str] = set()

    def make(start: bool = True, **env: object) -> harness.Server:
        env.setdefault("DATABASE_URL", harness.sqlite_url(tmp_path))
        full = harness.base_env(**env)
        if full["DATABASE_URL"] not in migrated:
            harness.migrate(full)
            migrated.add(full["DATABASE_URL"])
        server = harness.Server(env=full, workdir=tmp_path)
        servers.append(server)
        return server.start() if start else server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
async def serving(transactional_db: None) -> AsyncIterator[Any]:
    """This test process serving sockets: the assembly's lifecycle (lease, hub, outbox,
    presence) started on the test's loop, and stopped after the test."""
    from realtime.asgi import lifecycle

    await lifecycle.start()
    try:
        yield lifecycle
    finally:
        await lifecycle.stop()


@pytest.fixture
def live_server_proc(server_factory: Callable[..., harness.Server]) -> harness.Server:
    """One real server with the default test environment."""
    return server_factory()


@pytest.fixture(autouse=True)
def _room_ids_start_empty() -> None:
    """Each test's database numbers its rooms anew: no slug's id outlives its test."""
    from chat.room_ids import room_ids

    room_ids.clear()


@pytest.fixture(autouse=True)
def _frames_keep_their_schemas() -> Iterator[None]:
    """A frame that broke its schema in any real server fails the test (WS_CHECK_FRAMES).

    In-process sockets close 1011 on such a frame; a real server logs it, read here.
    """
    earlier = harness.broken_frames_anywhere()
    if earlier:  # logged after the previous test's check (a module's server stopping)
        pytest.fail(
            "frames broke their schema before this test:\n" + "\n".join(earlier),
            pytrace=False,
        )
    yield
    broken = harness.broken_frames_anywhere()
    if broken:
        pytest.fail("frames broke their schema:\n" + "\n".join(broken), pytrace=False)


def pytest_report_header(config: pytest.Config) -> str:
    return f"REQUIRE_SERVICES={os.environ.get('REQUIRE_SERVICES', '0')}"
