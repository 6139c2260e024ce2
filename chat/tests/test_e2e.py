"""Real `manage.py serve` processes and the `websockets` client library."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests import harness

pytestmark = pytest.mark.e2e

DEADLINE = 15.0
_unique = itertools.count(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """One real server for the tests of this module that need only one (starting is slow)."""
    workdir = tmp_path_factory.mktemp("chat-e2e")
    env = harness.base_env(
        DATABASE_URL=harness.sqlite_url(workdir), WS_PRESENCE_INTERVAL="0.3"
    )
    harness.migrate(env)
    proc = harness.Server(env=env, workdir=workdir).start()
    yield proc
    proc.stop()


def users(server: harness.Server, *names: str) -> list[harness.User]:
    """Fresh users on the shared server (names get a unique suffix)."""
    n = next(_unique)
    return [server.api.user(f"{name}{n}") for name in names]


def fresh(slug: str) -> str:
    return f"{slug}-{next(_unique)}"


async def open_chat(
    server: harness.Server, user: harness.User, slug: str, query: str = ""
) -> tuple[ClientConnection, dict]:
    """A socket in the room and its welcome frame."""
    extra = f"&{query}" if query else ""
    ws = await connect(f"{server.ws_url}/ws/chat/{slug}/?token={user.access}{extra}")
    welcome = await recv(ws)
    assert welcome["type"] == "welcome", welcome
    return ws, welcome


async def recv(ws: ClientConnection, within: float = DEADLINE) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), within))


async def recv_until(
    ws: ClientConnection,
    predicate: Callable[[dict[str, Any]], bool],
    within: float = DEADLINE,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Frames up to the first that matches: (it, the ones before)."""
    deadline = time.monotonic() + within
    before: list[dict[str, Any]] = []
    while True:
        frame = await recv(ws, max(0.01, deadline - time.monotonic()))
        if predicate(frame):
            return frame, before
        before.append(frame)


async def close_code(ws: ClientConnection, within: float = DEADLINE) -> int:
    """Read until the server closes; its close code."""
    try:
        async with asyncio.timeout(within):
            async for _ in ws:
                pass
    except ConnectionClosed:
        pass
    assert ws.close_code is not None
    return ws.close_code


def presence_with(name: str, key: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f["type"] == "presence" and name in [u["username"] for u in f[key]]


def make_room(
    server: harness.Server, owner: harness.User, slug: str, private: bool = False
) -> None:
    status, body = server.api.post(
        "/api/rooms/",
        {"slug": slug, "name": slug.title(), "is_private": private},
        token=owner.access,
    )
    assert status == 201, body


async def test_a_rest_post_arrives_live_exactly_as_a_socket_message(server):
    alice, bob = users(server, "alice", "bob")
    lobby = fresh("lobby")
    make_room(server, alice, lobby)
    ws, _ = await open_chat(server, bob, lobby)
    status, posted = await asyncio.to_thread(
        server.api.post,
        f"/api/rooms/{lobby}/messages/",
        {"body": "over REST", "client_id": "r-1"},
        token=alice.access,
    )
    assert status == 201
    frame, _ = await recv_until(ws, lambda f: f["type"] == "message")
    assert frame == posted
    assert frame["seq"] == 1 and frame["user"] == alice.frame()
    # And a socket message lands in REST history the same way.
    await ws.send(json.dumps({"type": "message", "body": "over the socket"}))
    echoed, _ = await recv_until(ws, lambda f: f["type"] == "message")
    status, page = server.api.get(
        f"/api/rooms/{lobby}/messages/?after=0", token=bob.access
    )
    assert page["results"] == [posted, echoed]
    await ws.close()


async def test_history_and_since_with_complete_on_a_real_server(server):
    (alice,) = users(server, "alice")
    lobby = fresh("lobby")
    make_room(server, alice, lobby)
    for n in range(3):
        status, _ = server.api.post(
            f"/api/rooms/{lobby}/messages/", {"body": f"m{n}"}, token=alice.access
        )
        assert status == 201
    ws, welcome = await open_chat(server, alice, lobby)
    assert [m["seq"] for m in welcome["history"]] == [1, 2, 3] and welcome[
        "complete"
    ] is True
    await ws.close()
    ws, welcome = await open_chat(server, alice, lobby, "since=1")
    assert [m["seq"] for m in welcome["history"]] == [2, 3] and welcome[
        "complete"
    ] is True
    await ws.close()


async def test_whitelist_refusals_and_a_live_kick_within_a_second(server):
    alice, bob, carol = users(server, "alice", "bob", "carol")
    secret = fresh("secret")
    make_room(server, alice, secret, private=True)
    status, _ = server.api.post(
        f"/api/rooms/{secret}/members/", {"username": bob.username}, token=alice.access
    )
    assert status == 201

    outsider = await connect(f"{server.ws_url}/ws/chat/{secret}/?token={carol.access}")
    assert await close_code(outsider) == 4403
    missing = await connect(f"{server.ws_url}/ws/chat/nowhere/?token={carol.access}")
    assert await close_code(missing) == 4404

    owner, _ = await open_chat(server, alice, secret)
    member, _ = await open_chat(server, bob, secret)
    started = time.monotonic()
    status, _ = await asyncio.to_thread(
        server.api.delete,
        f"/api/rooms/{secret}/members/",
        {"username": bob.username},
        token=alice.access,
    )
    assert status == 204
    assert await close_code(member, within=1.0) == 4403
    assert time.monotonic() - started < 1.0
    # The owner is untouched: a message still reaches her.
    await owner.send(json.dumps({"type": "message", "body": "still here"}))
    frame, _ = await recv_until(owner, lambda f: f["type"] == "message")
    assert frame["body"] == "still here"
    await owner.close()


async def test_bad_frames_are_answered_without_disturbing_other_members(server):
    alice, bob = users(server, "alice", "bob")
    lobby = fresh("lobby")
    make_room(server, alice, lobby)
    a, _ = await open_chat(server, alice, lobby)
    b, _ = await open_chat(server, bob, lobby)
    for raw, code in [
        ("{", "bad_json"),
        ('{"type":"nope"}', "unknown_type"),
        ('{"type":"message","body":""}', "invalid"),
    ]:
        await a.send(raw)
        error, _ = await recv_until(a, lambda f: f["type"] == "error")
        assert error["code"] == code
    await a.send(json.dumps({"type": "message", "body": "fine"}))
    frame, before = await recv_until(b, lambda f: f["type"] == "message")
    assert frame["body"] == "fine" and frame["seq"] == 1
    assert all(f["type"] == "presence" for f in before)
    await a.close()
    await b.close()


async def test_the_broadcast_command_reaches_a_running_servers_sockets(server):
    (alice,) = users(server, "alice")
    lobby = fresh("lobby")
    make_room(server, alice, lobby)
    ws, _ = await open_chat(server, alice, lobby)
    await asyncio.to_thread(server.manage, "broadcast", lobby, "from the command")
    frame, _ = await recv_until(ws, lambda f: f["type"] == "system")
    assert frame["body"] == "from the command"
    await asyncio.to_thread(
        server.manage, "broadcast", lobby, "posted", "--as", alice.username
    )
    frame, _ = await recv_until(ws, lambda f: f["type"] == "message")
    assert frame["body"] == "posted" and frame["seq"] == 1
    await ws.close()


async def test_presence_counts_a_user_once_across_two_tabs(server):
    alice, bob, carol = users(server, "alice", "bob", "carol")
    lobby = fresh("lobby")
    make_room(server, alice, lobby)
    watcher, _ = await open_chat(server, bob, lobby)
    await recv_until(watcher, presence_with(bob.username, "joins"))
    tab1, _ = await open_chat(server, alice, lobby)
    tab2, welcome = await open_chat(server, alice, lobby)
    assert welcome["online_count"] == 2
    frame, _ = await recv_until(watcher, presence_with(alice.username, "joins"))
    assert frame["count"] == 2
    await tab1.close()
    # A later change proves the closed tab sent no leave: frames of one room go in order.
    third, _ = await open_chat(server, carol, lobby)
    frame, before = await recv_until(watcher, presence_with(carol.username, "joins"))
    assert frame["leaves"] == [] and frame["count"] == 3
    assert not [f for f in before if f["type"] == "presence"]
    status, online = server.api.get(f"/api/rooms/{lobby}/presence/", token=bob.access)
    assert [u["username"] for u in online["results"]] == [
        alice.username,
        bob.username,
        carol.username,
    ]
    await tab2.close()
    frame, _ = await recv_until(watcher, presence_with(alice.username, "leaves"))
    assert frame["joins"] == [] and frame["count"] == 2
    await third.close()
    await watcher.close()


async def test_presence_heals_after_a_server_is_killed_with_sigkill(server_factory):
    # Two processes on one SQLite database; short leases keep the test short.
    env = {"WS_PROCESS_LEASE_SECONDS": "3", "WS_PRESENCE_INTERVAL": "0.3"}
    doomed, survivor = server_factory(**env), server_factory(**env)
    alice, bob = survivor.api.user("alice"), survivor.api.user("bob")
    make_room(survivor, alice, "lobby")
    victim, _ = await open_chat(doomed, alice, "lobby")
    await recv_until(
        victim, presence_with("alice", "joins")
    )  # announced by the doomed one
    watcher, welcome = await open_chat(survivor, bob, "lobby")
    assert alice.frame() in welcome["online"]

    killed = time.monotonic()
    doomed.kill()
    frame, _ = await recv_until(watcher, presence_with("alice", "leaves"), within=60)
    healed = time.monotonic() - killed
    assert healed < 90
    assert frame["count"] == 1
    status, online = survivor.api.get("/api/rooms/lobby/presence/", token=bob.access)
    assert [u["username"] for u in online["results"]] == ["bob"]
    print(f"presence healed {healed:.1f}s after SIGKILL (lease 3 s)")
    await watcher.close()


@pytest.mark.cluster
async def test_a_cluster_delivers_messages_presence_and_kicks_across_processes(
    pg_database, own_redis, server_factory
):
    # Fixture order matters: servers stop before their database and Redis go away.
    env = {
        "DATABASE_URL": pg_database,
        "REDIS_URL": own_redis.url,
        "WS_PRESENCE_INTERVAL": "0.3",
        "WS_PROCESS_LEASE_SECONDS": "3",
    }
    one, two = server_factory(**env), server_factory(**env)
    alice, bob, carol = (one.api.user(name) for name in ("alice", "bob", "carol"))
    make_room(one, alice, "secret", private=True)
    for name in ("bob", "carol"):
        status, _ = one.api.post(
            "/api/rooms/secret/members/", {"username": name}, token=alice.access
        )
        assert status == 201
    a, _ = await open_chat(one, alice, "secret")
    await recv_until(a, presence_with("alice", "joins"))
    b, _ = await open_chat(two, bob, "secret")
    frame, _ = await recv_until(
        a, presence_with("bob", "joins")
    )  # computed on process two
    assert frame["count"] == 2
    await b.send(json.dumps({"type": "message", "body": "from two"}))
    frame, _ = await recv_until(a, lambda f: f["type"] == "message")
    assert frame["body"] == "from two" and frame["seq"] == 1

    started = time.monotonic()
    status, _ = await asyncio.to_thread(
        one.api.delete,
        "/api/rooms/secret/members/",
        {"username": "bob"},
        token=alice.access,
    )
    assert status == 204
    assert await close_code(b, within=1.0) == 4403
    assert time.monotonic() - started < 1.0
    frame, _ = await recv_until(a, presence_with("bob", "leaves"))
    assert frame["count"] == 1

    # A graceful stop of process two: its users leave for those on process one.
    c, _ = await open_chat(two, carol, "secret")
    await recv_until(a, presence_with("carol", "joins"))
    two.terminate()
    assert await close_code(c) == 1012
    frame, _ = await recv_until(a, presence_with("carol", "leaves"), within=30)
    assert frame["count"] == 1
    await a.close()
