"""Fixtures of the socket-layer tests: users with tokens, the test app, a clean hub."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from realtime import testing
from realtime.testing import Server
from realtime.ws.hub import hub
from realtime.ws.tests import consumers


@dataclass
class U:
    """A user with a valid access token and, on demand, a session cookie."""

    user: Any
    token: str

    @property
    def pk(self) -> int:
        return self.user.pk

    def session_cookie(self) -> tuple[bytes, bytes]:
        client = Client()
        client.force_login(self.user)
        return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


@pytest.fixture
def make_user() -> Callable[[str], U]:
    def make(username: str) -> U:
        user = get_user_model().objects.create_user(username, password="pw-not-used-0")
        return U(user, str(AccessToken.for_user(user)))

    return make


@pytest.fixture
def alice(make_user: Callable[[str], U]) -> U:
    return make_user("alice")


@pytest.fixture
def bob(make_user: Callable[[str], U]) -> U:
    return make_user("bob")


@pytest.fixture
async def clean_hub() -> AsyncIterator[None]:
    """Stop the hub's background tasks (lease, outbox) before the test's loop and DB go."""
    yield
    await hub.stop()
    hub.sockets.clear()


@pytest.fixture
def ws_app(clean_hub: None) -> Any:
    """A fresh gate in front of the test routes and echo."""
    return consumers.app()


@pytest.fixture
async def communicator(
    ws_app: Any,
) -> AsyncIterator[Callable[..., WebsocketCommunicator]]:
    """`communicator(path, headers=[...], app=...)`; whatever is still open is closed after."""
    made: list[WebsocketCommunicator] = []

    def make(
        path: str, headers: list[tuple[bytes, bytes]] | None = None, app: Any = None
    ):
        comm = WebsocketCommunicator(app or ws_app, path, headers=headers)
        made.append(comm)
        return comm

    yield make
    for comm in made:
        if comm.future is not None and not comm.future.done():
            try:
                await comm.disconnect(timeout=5)
            except Exception:
                comm.future.cancel()


# --- real servers shared by a module ----------------------------------------------------------

E2E_SETTINGS = "realtime.ws.tests.e2e_settings"


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
    database = testing.sqlite_url(workdir)
    started: dict[tuple[tuple[str, str], ...], Server] = {}
    migrated = False

    def get(**env: object) -> Server:
        nonlocal migrated
        env.setdefault("DJANGO_SETTINGS_MODULE", E2E_SETTINGS)
        env.setdefault("DATABASE_URL", database)
        key = tuple(sorted((k, str(v)) for k, v in env.items()))
        if key not in started:
            full = testing.base_env(**env)
            if not migrated and full["DATABASE_URL"] == database:
                testing.manage(full, "migrate", "--noinput", "-v0")
                migrated = True
            started[key] = Server(env=full, workdir=workdir).start()
        return started[key]

    yield get
    for server in started.values():
        server.stop()
