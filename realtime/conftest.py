"""Fixtures every plumbing test may use: real servers shared by a module."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests import harness
from tests.harness import Server

# --- real servers shared by a module ----------------------------------------------------------

E2E_SETTINGS = "realtime.socket.tests.e2e_settings"


@pytest.fixture(scope="module")
def module_servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., Server]]:
    """`servers(**env)`: one real `manage.py serve` per distinct env, shared by the module.

    Servers of a module share one migrated SQLite database (like `server_factory`); each is
    stopped when the module ends. The test routes of `consumers.py` are mounted
    (`e2e_settings`), beside the project's own.
    """
    workdir = tmp_path_factory.mktemp("servers")
    database = harness.sqlite_url(workdir)
    started: dict[tuple[tuple[str, str], ...], Server] = {}
    migrated = False

    def get(**env: object) -> Server:
        nonlocal migrated
        env.setdefault("DJANGO_SETTINGS_MODULE", E2E_SETTINGS)
        env.setdefault("DATABASE_URL", database)
        key = tuple(sorted((k, str(v)) for k, v in env.items()))
        if key not in started:
            full = harness.base_env(**env)
            if not migrated and full["DATABASE_URL"] == database:
                harness.migrate(full)
                migrated = True
            started[key] = Server(env=full, workdir=workdir).start()
        return started[key]

    yield get
    for server in started.values():
        server.stop()
