"""Fixtures of the socket-layer tests: users with tokens, the test app, a clean hub."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from realtime.socket.tests import consumers


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
def ws_app(serving: Any) -> Any:
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
