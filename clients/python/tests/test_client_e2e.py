"""The Python client against a real `manage.py serve`: restarts, tokens, refusals.

One server for the module (starting one is slow); the restart test stops and starts it
again on the same port and database. Access tokens live TOKEN_LIFETIME seconds, so the
token tests see expiry within their time; every client here refreshes through `Auth`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from realtime_client import (
    Auth,
    ChatClient,
    Client,
    Event,
    FatalCloseError,
    NotifyClient,
    Options,
    State,
)

from tests import harness

pytestmark = pytest.mark.e2e

TOKEN_LIFETIME = 5
DEADLINE = 20.0
#: reconnects in tenths of a second, so a restart costs the test little
FAST = Options(
    base_delay=0.05,
    max_delay=0.5,
    restart_jitter=0.1,
    send_rate=40.0,
    send_burst=30,
    max_queue=500,
)
_unique = itertools.count(1)
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.Server]:
    workdir = tmp_path_factory.mktemp("pyclient-e2e")
    env = harness.base_env(
        DATABASE_URL=harness.sqlite_url(workdir),
        JWT_ACCESS_LIFETIME_SECONDS=TOKEN_LIFETIME,
        WS_MESSAGE_RATE=50,
        WS_MESSAGE_BURST=40,
        # The flood test wants many rate_limited refusals, not the 4429 that ends a flood.
        WS_RATE_ABUSE_LIMIT=10_000,
        DRAIN_LINGER_SECONDS=0.2,
    )
    harness.migrate(env)
    proc = harness.Server(env=env, workdir=workdir).start()
    yield proc
    proc.stop()


async def login(server: harness.Server, name: str) -> Auth:
    """A fresh user, signed in through the client's own REST helper."""
    username = f"{name}{next(_unique)}"
    await asyncio.to_thread(server.api.register, username)
    return await Auth.login(server.url, username, harness.PASSWORD)


async def make_room(auth: Auth, *, private: bool = False) -> str:
    slug = f"room-{next(_unique)}"
    status, body = await auth.request(
        "POST", "/api/rooms/", {"slug": slug, "name": slug, "is_private": private}
    )
    assert status == 201, body
    return slug


async def collect(client: ChatClient, into: list[dict], until: int) -> None:
    """Message events into `into` until `until` of them arrived."""
    async for event in client:
        if event.type == "message":
            into.append(dict(event.data))
            if len(into) >= until:
                return


async def test_messages_sent_before_connecting_go_out_once_in_order(server):
    alice = await login(server, "alice")
    room = await make_room(alice)
    chat = ChatClient(server.url, room, auth=alice, options=FAST)
    sent = [chat.send_message(f"early {n}") for n in range(3)]
    assert chat.queued == 3
    async with chat:
        stored = await asyncio.wait_for(asyncio.gather(*sent), DEADLINE)
        assert [m["seq"] for m in stored] == [1, 2, 3]
        assert [m["client_id"] for m in stored] == [s.client_id for s in sent]
        assert chat.pending == [] and chat.last_seq == 3


async def test_a_server_restart_loses_and_repeats_nothing(server):
    alice, bob = await login(server, "alice"), await login(server, "bob")
    room = await make_room(alice)
    total, restart_at = 80, 25
    sender = ChatClient(server.url, room, auth=alice, options=FAST)
    receiver = ChatClient(server.url, room, auth=bob, options=FAST)
    retries: list[Event] = []
    receiver.on("retry", retries.append)
    sender.on("retry", retries.append)
    received: list[dict] = []
    async with sender, receiver:
        reading = asyncio.create_task(collect(receiver, received, total))
        sent, offline = [], 0
        for n in range(total):
            if n == restart_at:
                # SIGTERM (the drain closes every socket 1012), then the same port and
                # database again; the sender keeps queueing meanwhile.
                restarting = asyncio.create_task(asyncio.to_thread(restart, server))
            offline += sender.state is not State.OPEN
            sent.append(sender.send_message(f"m{n}"))
            await asyncio.sleep(0.02)
        await restarting
        stored = await asyncio.wait_for(asyncio.gather(*sent), DEADLINE)
        await asyncio.wait_for(reading, DEADLINE)
    assert {e.data["code"] for e in retries} & {1012, None}, retries  # it did drop
    assert offline > 0  # and messages were queued while it was down
    seqs = [m["seq"] for m in received]
    assert seqs == list(range(1, total + 1))  # every seq, once, in order
    assert [m["body"] for m in received] == [f"m{n}" for n in range(total)]
    assert sorted(m["seq"] for m in stored) == seqs
    # The database agrees: nothing was stored twice by the resends.
    status, page = await bob.request(
        "GET", f"/api/rooms/{room}/messages/?after=0&limit=200"
    )
    assert status == 200 and [m["seq"] for m in page["results"]] == seqs
    assert not page["has_more"]


def restart(server: harness.Server) -> None:
    server.stop()
    server.start()


async def test_the_token_is_refreshed_in_band_and_the_socket_outlives_it(server):
    alice = await login(server, "alice")
    spent = alice.refresh_token
    room = await make_room(alice)
    chat = ChatClient(server.url, room, auth=alice, options=FAST)
    states: list[str] = []
    chat.on("state", lambda e: states.append(e.data["state"]))
    async with chat:
        replies = [e async for e in until_type(chat, "auth", count=2)]
        assert all("exp" in e.data for e in replies)
        # Two refreshes: past the first token's life, on the same socket.
        sent = chat.send_message("still here")
        assert (await asyncio.wait_for(sent, DEADLINE))["body"] == "still here"
    assert states == ["connecting", "open", "closed"]  # never dropped
    # Refresh tokens rotate: the client kept the new one, and the old one is dead.
    assert alice.refresh_token != spent
    status, body = await asyncio.to_thread(
        server.api.post, "/api/auth/token/refresh/", {"refresh": spent}
    )
    assert status == 401, body


async def until_type(client: Client, kind: str, count: int):
    """The next `count` events of one type (within DEADLINE)."""
    async with asyncio.timeout(DEADLINE):
        async for event in client:
            if event.type == kind:
                yield event
                count -= 1
                if count == 0:
                    return


async def test_on_4401_a_refreshing_client_resumes_and_a_fixed_token_stops(server):
    alice, bob = await login(server, "alice"), await login(server, "bob")
    room = await make_room(alice)
    no_inband = dataclasses.replace(FAST, refresh_on_socket=False)
    refreshing = ChatClient(server.url, room, auth=alice, options=no_inband)
    fixed = ChatClient(server.url, room, token=bob.access, options=FAST)
    retried = asyncio.Event()
    retries: list[Event] = []
    refreshing.on("retry", lambda e: (retries.append(e), retried.set()))
    ended: list[Event] = []
    fixed.on("auth_required", ended.append)
    async with refreshing:
        fixed.connect()
        await fixed.wait_open()
        first = await refreshing.send_message("before expiry")
        async with asyncio.timeout(TOKEN_LIFETIME + DEADLINE):
            await fixed.wait_closed()
            await retried.wait()
            await refreshing.wait_open()
        assert retries[0].data["code"] == 4401
        after = await asyncio.wait_for(refreshing.send_message("after"), DEADLINE)
        assert after["seq"] == first["seq"] + 1
        assert refreshing.last_seq == after["seq"]
    assert [e.data["code"] for e in ended] == [4401]
    assert fixed.state is State.CLOSED


async def test_no_such_room_and_a_private_room_stop_without_retrying(server):
    alice, bob = await login(server, "alice"), await login(server, "bob")
    private = await make_room(alice, private=True)
    for client, kind, code in [
        (
            ChatClient(server.url, "no-such-room", auth=bob, options=FAST),
            "not_found",
            4404,
        ),
        (ChatClient(server.url, private, auth=bob, options=FAST), "forbidden", 4403),
    ]:
        retries: list[Event] = []
        client.on("retry", retries.append)
        client.connect()
        with pytest.raises(FatalCloseError) as refused:
            await asyncio.wait_for(client.wait_open(), DEADLINE)
        assert (refused.value.code, refused.value.close_code) == (kind, code)
        assert retries == [] and client.state is State.CLOSED


async def test_a_flood_past_the_servers_bucket_is_resent_until_stored_once(server):
    alice = await login(server, "alice")
    room = await make_room(alice)
    # No pacing: 200 frames at once into a bucket of 40 refilled at 50/s, so many come
    # back rate_limited (an error frame with no client_id): the client sends what is
    # unconfirmed again, and the server's client_id dedupe keeps each stored once.
    unpaced = dataclasses.replace(FAST, send_rate=None)
    chat = ChatClient(server.url, room, auth=alice, options=unpaced)
    errors: list[Event] = []
    chat.on("error", errors.append)
    async with chat:
        sent = [chat.send_message(f"f{n}") for n in range(200)]
        stored = await asyncio.wait_for(asyncio.gather(*sent), DEADLINE)
    assert any(e.data["code"] == "rate_limited" for e in errors)
    assert sorted(m["seq"] for m in stored) == list(range(1, 201))
    status, page = await alice.request(
        "GET", f"/api/rooms/{room}/messages/?after=0&limit=200"
    )
    assert [m["seq"] for m in page["results"]] == list(range(1, 201))


async def test_the_notify_client_finds_its_path_in_the_token(server):
    alice = await login(server, "alice")
    notify = NotifyClient(server.url, auth=alice, options=FAST)
    async with notify:
        assert notify.welcome is not None
        assert notify.welcome["user"]["id"] == alice.user_id
        notify.mark_all_read()
        unread = [e async for e in until_type(notify, "unread", count=1)]
        assert unread[0].data["count"] == 0


async def test_the_readme_example_runs_as_written(server):
    match = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert match is not None
    username = f"alice{next(_unique)}"
    await asyncio.to_thread(server.api.register, username)
    owner = await Auth.login(server.url, username, harness.PASSWORD)
    room = await make_room(owner)
    code = (
        match.group(1)
        .replace('"http://127.0.0.1:8000"', repr(server.url))
        .replace('"alice"', repr(username))
        .replace('"lobby"', repr(room))
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(DEADLINE):
            first = (await proc.stdout.readline()).decode().strip()
            second = (await proc.stdout.readline()).decode().strip()
    finally:
        proc.kill()
        await proc.wait()
    # The example runs until interrupted: its send was stored, then came back once.
    assert first == "stored as seq 1"
    assert second == f"1 {username} hello"
