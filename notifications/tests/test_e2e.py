"""The notify socket on real servers (`manage.py serve`) with the `websockets` client."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest
from websockets.exceptions import InvalidStatus

from notifications.tests.support import (
    make_staff,
    ws_close_code,
    ws_connect,
    ws_frame,
    ws_quiet,
)

pytestmark = [pytest.mark.e2e]


def jwt_exp(token: str) -> int:
    """The `exp` claim of a JWT (read only, for timing the test)."""
    payload = token.split(".")[1]
    return int(
        json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"]
    )


def notify_url(server, user_id, token=None) -> str:
    return f"{server.ws_url}/ws/notify/user/{user_id}/" + (
        f"?token={token}" if token else ""
    )


async def test_real_server_refuses_every_path_but_the_users_own_and_never_errors(
    live_server_proc,
):
    server = live_server_proc
    alice = server.api.user("alice")
    bob = server.api.user("bob")

    with pytest.raises(InvalidStatus) as refused:
        async with ws_connect(notify_url(server, alice.id)):
            pass
    assert refused.value.response.status_code == 403  # no credentials: before accept

    for path_id in (bob.id, bob.id + 1000, "abc", "-1", "0", "99999999999999999999"):
        async with ws_connect(notify_url(server, path_id, alice.access)) as ws:
            assert await ws_close_code(ws) == 4403, path_id
    async with ws_connect(
        f"{server.ws_url}/ws/notify/user/{alice.id}/x/?token={alice.access}"
    ) as ws:
        assert await ws_close_code(ws) == 4403
    assert "Traceback" not in server.log_text()


async def test_staff_send_is_pushed_live_backlogged_offline_and_read_syncs_across_tabs(
    live_server_proc,
):
    server = live_server_proc
    root = server.api.user("root")
    alice = server.api.user("alice")
    bob = server.api.user("bob")
    make_staff(server, "root")
    send = {
        "usernames": ["alice", "bob"],
        "title": "Deploy at 5",
        "body": "short",
        "level": "warning",
    }

    status, body = server.api.post("/api/notifications/", send, token=alice.access)
    assert status == 403, body

    async with (
        ws_connect(notify_url(server, alice.id, alice.access)) as tab1,
        ws_connect(notify_url(server, alice.id, alice.access)) as tab2,
    ):
        assert (await ws_frame(tab1, "welcome"))["unread"] == 0
        await ws_frame(tab2, "welcome")
        status, body = server.api.post("/api/notifications/", send, token=root.access)
        assert (status, body) == (201, {"count": 2})
        live = await ws_frame(tab1, "notification")
        assert live["title"] == "Deploy at 5" and live["level"] == "warning"
        assert (await ws_frame(tab2, "notification"))["id"] == live["id"]

        await tab2.send(json.dumps({"type": "read", "id": live["id"]}))
        assert await ws_frame(tab1, "unread") == {
            "type": "unread",
            "count": 0,
            "unread": 0,
        }
        assert await ws_frame(tab2, "unread") == {
            "type": "unread",
            "count": 0,
            "unread": 0,
        }

    # bob was offline: his welcome carries it
    async with ws_connect(notify_url(server, bob.id, bob.access)) as ws:
        welcome = await ws_frame(ws, "welcome")
        assert welcome["unread"] == 1
        assert [n["title"] for n in welcome["notifications"]] == ["Deploy at 5"]
    status, listing = server.api.get("/api/notifications/?unread=1", token=bob.access)
    assert status == 200 and listing["count"] == 1


async def test_the_command_pushes_to_a_live_socket_through_the_outbox(live_server_proc):
    server = (
        live_server_proc  # embedded mode: no REDIS_URL, the command writes the outbox
    )
    alice = server.api.user("alice")
    server.api.user("bob")
    async with ws_connect(notify_url(server, alice.id, alice.access)) as ws:
        await ws_frame(ws, "welcome")
        out = server.manage(
            "send_notification",
            "alice",
            "--title",
            "From the CLI",
            "--level",
            "success",
        )
        assert "Sent 1 notification." in out
        frame = await ws_frame(ws, "notification")
        assert (frame["title"], frame["level"], frame["read"]) == (
            "From the CLI",
            "success",
            False,
        )
        assert await ws_quiet(ws, 0.5)  # bob's copy did not come here


@pytest.mark.cluster
async def test_the_command_pushes_over_redis_to_sockets_on_two_servers(
    server_factory, own_redis
):
    # A Redis of this test's own: topics such as user.1 on the machine's shared Redis
    # would reach (and kick) other test runs' sockets of a user with the same id.
    a = server_factory(REDIS_URL=own_redis.url)
    b = server_factory(REDIS_URL=own_redis.url)
    alice = a.api.user("alice")
    async with (
        ws_connect(notify_url(a, alice.id, alice.access)) as on_a,
        ws_connect(notify_url(b, alice.id, alice.access)) as on_b,
    ):
        await ws_frame(on_a, "welcome")
        await ws_frame(on_b, "welcome")
        a.manage("send_notification", "alice", "--title", "Over Redis")
        got_a = await ws_frame(on_a, "notification")
        got_b = await ws_frame(on_b, "notification")
        assert got_a == got_b and got_a["title"] == "Over Redis"
        # a read on one server reaches the tab on the other
        await on_a.send('{"type":"read","all":true}')
        assert await ws_frame(on_b, "unread") == {
            "type": "unread",
            "count": 0,
            "unread": 0,
        }
        assert await ws_frame(on_a, "unread") == {
            "type": "unread",
            "count": 0,
            "unread": 0,
        }


async def test_in_band_refresh_keeps_a_real_socket_past_the_first_tokens_expiry(
    server_factory,
):
    server = server_factory(JWT_ACCESS_LIFETIME_SECONDS=3)
    alice = server.api.user("alice")
    async with (
        ws_connect(notify_url(server, alice.id, alice.access)) as refreshed,
        ws_connect(notify_url(server, alice.id, alice.access)) as unrefreshed,
    ):
        await ws_frame(refreshed, "welcome")
        await ws_frame(unrefreshed, "welcome")
        first_exp = jwt_exp(alice.access)
        # Like a client, refresh over REST and hand the new token over in-band; tokens
        # carry whole seconds, so go on until the new expiry is clearly past the first.
        deadline = time.monotonic() + 15
        refresh = alice.refresh
        while True:
            status, body = server.api.post(
                "/api/auth/token/refresh/", {"refresh": refresh}
            )
            assert status == 200, body
            refresh = body["refresh"]  # refresh tokens rotate: the used one is spent
            await refreshed.send(json.dumps({"type": "auth", "token": body["access"]}))
            assert (await ws_frame(refreshed, "auth"))["exp"]
            if jwt_exp(body["access"]) >= first_exp + 2:
                break
            assert time.monotonic() < deadline
            await asyncio.sleep(0.25)  # polls a condition (the clock), with a deadline

        assert await ws_close_code(unrefreshed) == 4401  # the first token ran out
        await refreshed.send('{"type":"heartbeat"}')
        assert (await ws_frame(refreshed, "heartbeat"))["ts"]  # still alive past it
