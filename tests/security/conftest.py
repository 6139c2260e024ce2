"""One real server for the hostile-input tests, and a bystander whose socket must not notice."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests import harness
from tests.conftest import stop_all
from tests.support import Frames, chat, heartbeat_ok, notify, room_create

#: the hostile-input server's limits, small so floods and caps are reached quickly
HOSTILE_ENV = {
    "WS_MESSAGE_RATE": "5",
    "WS_MESSAGE_BURST": "10",
    "WS_RATE_ABUSE_LIMIT": "5",
    "WS_MAX_INVALID_FRAMES": "5",
    "WS_MAX_CONNECTIONS_PER_USER": "3",
    "HTTP_HEADER_TIMEOUT": "3",
    "WS_MAX_ANON_CONNECTIONS_PER_IP": "3",
}


@dataclass
class Bystander:
    """Carol: a chat socket and a notify socket that every hostile test must leave alone."""

    user: harness.User
    chat: Frames
    notify: Frames

    last: float = 0.0

    def undisturbed(self) -> None:
        """Both sockets still answer a heartbeat, and neither got an error or a close."""
        # Carol is polite: at most 4 heartbeats a second, under the WS_MESSAGE_RATE of 5,
        # however fast the hostile tests run.
        time.sleep(max(0.0, self.last + 0.25 - time.monotonic()))
        self.last = time.monotonic()
        for frames in (self.chat, self.notify):
            assert heartbeat_ok(frames.conn)
            bad = [f for f in frames.seen if f.get("type") == "error"]
            assert not bad, bad
        # heartbeat_ok() reads past presence frames without keeping them: nothing to check


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.Server]:
    """A real server (SQLite, embedded mode) with the hostile-input limits."""
    workdir = tmp_path_factory.mktemp("hostile")
    env = harness.base_env(DATABASE_URL=harness.sqlite_url(workdir), **HOSTILE_ENV)
    harness.migrate(env)
    server = harness.Server(env=env, workdir=workdir).start()
    yield server
    stop_all([server])


@pytest.fixture(scope="module")
def users(hostile: harness.Server) -> dict[str, harness.User]:
    """carol (bystander), mallory (attacker), alice (a room owner)."""
    made = {name: hostile.api.user(name) for name in ("carol", "mallory", "alice")}
    room_create(hostile, made["alice"], "lobby")
    room_create(hostile, made["alice"], "secret", private=True)
    return made


@pytest.fixture(scope="module")
def bystander(
    hostile: harness.Server, users: dict[str, harness.User]
) -> Iterator[Bystander]:
    conn, _ = chat(hostile, users["carol"], "lobby")
    nconn, _ = notify(hostile, users["carol"])
    yield Bystander(users["carol"], Frames(conn), Frames(nconn))
    for c in (conn, nconn):
        with contextlib.suppress(Exception):
            c.close()


def frame(**fields: Any) -> str:
    return json.dumps(fields)
