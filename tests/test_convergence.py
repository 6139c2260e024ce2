"""A client that keeps dropping its socket while others send, edit, delete and react ends
up holding exactly the server's state (PROTOCOL.md 10): the Python client, real servers.

Seeded and repeatable: each seed plays the same actions and the same disconnects. The
observer applies every `message` and `message_updated` event it is given (a newer `rev`
replaces an older one) and nothing else; after the run settles, every message it holds
equals the server's `GET /api/rooms/<room>/messages/<id>/`, field for field.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Iterator
from typing import Any

import pytest
from realtime_client import Auth, ChatClient, Options

from tests import harness

pytestmark = pytest.mark.e2e

#: actions per seed: enough edits, deletes and reactions to land in every resume window
ACTIONS = 90
EMOJI = ("👍", "🎉", "ok", "❤️")
SETTLE = 20.0
FAST = Options(base_delay=0.02, max_delay=0.2, restart_jitter=0.05, gap_grace=0.2)
_unique = itertools.count(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.Server]:
    workdir = tmp_path_factory.mktemp("convergence")
    env = harness.base_env(
        DATABASE_URL=harness.sqlite_url(workdir),
        WS_MESSAGE_RATE=1000,
        WS_MESSAGE_BURST=1000,
    )
    harness.migrate(env)
    proc = harness.Server(env=env, workdir=workdir).start()
    yield proc
    proc.stop()


async def sign_up(base: str, api: harness.Api, name: str) -> tuple[Auth, int]:
    username = f"{name}{next(_unique)}"
    user_id = await asyncio.to_thread(api.register, username)
    return await Auth.login(base, username, harness.PASSWORD), user_id


class Actor:
    """A user who writes through REST on one process and remembers what they wrote."""

    def __init__(self, auth: Auth, user_id: int, slug: str) -> None:
        self.auth, self.user_id, self.slug = auth, user_id, slug

    async def call(self, method: str, tail: str, body: Any = None) -> Any:
        status, data = await self.auth.request(
            method, f"/api/rooms/{self.slug}/messages/{tail}", body
        )
        assert status < 300, (method, tail, status, data)
        return data


async def play(seed: int, observer_base: str, actor_bases: list[str], api: harness.Api):
    """Random sends, edits, deletes and reactions while the observer drops its socket."""
    rng = random.Random(seed)
    watcher, _ = await sign_up(observer_base, api, "watcher")
    actors = []
    for i, base in enumerate((actor_bases * 2)[:2]):
        auth, user_id = await sign_up(base, api, f"actor{i}-")
        actors.append((auth, user_id))
    slug = f"converge-{seed}-{next(_unique)}"
    status, body = await actors[0][0].request(
        "POST", "/api/rooms/", {"slug": slug, "name": slug}
    )
    assert status == 201, body
    people = [Actor(auth, uid, slug) for auth, uid in actors]
    owner = people[0]

    held: dict[int, dict[str, Any]] = {}

    def apply(message: dict[str, Any]) -> None:
        current = held.get(message["id"])
        if current is None or message.get("rev", 0) >= current.get("rev", 0):
            held[message["id"]] = message

    chat = ChatClient(observer_base, slug, auth=watcher, options=FAST)

    async def watch() -> None:
        async for event in chat:
            if event.type in ("message", "message_updated"):
                apply(dict(event.data))

    written: dict[int, int] = {}  # message id -> author id
    deleted: set[int] = set()
    reacted: set[tuple[int, int, str]] = set()
    drops = 0
    async with chat:
        watching = asyncio.create_task(watch())
        await chat.wait_open()
        for step in range(ACTIONS):
            actor = rng.choice(people)
            live = [m for m in written if m not in deleted]
            own = [m for m in live if written[m] == actor.user_id]
            op = rng.choices(("send", "edit", "delete", "react"), (4, 2, 1, 3))[0]
            if op == "send" or not live:
                data = await actor.call("POST", "", {"body": f"m{step} {rng.random()}"})
                written[data["id"]] = actor.user_id
            elif op == "edit" and own:
                await actor.call("PATCH", f"{rng.choice(own)}/", {"body": f"e{step}"})
            elif op == "delete":
                # The author deletes their own; the room's owner anyone's.
                pool = live if actor is owner else own
                if pool:
                    victim = rng.choice(pool)
                    await actor.call("DELETE", f"{victim}/")
                    deleted.add(victim)
            else:
                target, emoji = rng.choice(live), rng.choice(EMOJI)
                key = (target, actor.user_id, emoji)
                method = "DELETE" if key in reacted else "POST"
                await actor.call(method, f"{target}/reactions/", {"emoji": emoji})
                reacted.symmetric_difference_update({key})
            if rng.random() < 0.12 and chat._ws is not None:
                chat._ws.transport.abort()  # the link drops: no close frame
                drops += 1
            if rng.random() < 0.3:
                await asyncio.sleep(rng.random() * 0.05)

        expected: dict[int, dict[str, Any]] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE
        while True:
            expected = {}
            for message_id in written:
                expected[message_id] = await owner.call("GET", f"{message_id}/")
            if all(same(held.get(i), m) for i, m in expected.items()):
                break
            if loop.time() > deadline:
                break
            await asyncio.sleep(0.2)
        watching.cancel()
    stale = {
        i: (held.get(i), m) for i, m in expected.items() if not same(held.get(i), m)
    }
    assert not stale, f"seed {seed}: {len(stale)} messages differ: {stale}"
    assert set(held) == set(expected)
    assert deleted and reacted and drops, "the seed exercised what it is about"


def same(held: dict[str, Any] | None, server: dict[str, Any]) -> bool:
    """The client's copy equals the server's, on every field the server gives."""
    return held is not None and all(held.get(k) == v for k, v in server.items())


@pytest.mark.parametrize("seed", [1, 2])
async def test_a_client_that_keeps_dropping_holds_the_servers_state(server, seed):
    await play(seed, server.url, [server.url], server.api)


@pytest.mark.cluster
async def test_across_two_processes_the_client_holds_the_servers_state(cluster):
    a, b = cluster(2)
    await play(7, a.url, [b.url, a.url], a.api)
