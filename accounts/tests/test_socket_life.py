"""The life of a user's sockets: logout, a password change, deactivation and deletion close
every socket of that user (notify, and an authenticated echo socket standing in for chat)
with 4401, on every process, after commit."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordChangeForm
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from websockets.exceptions import InvalidStatus

from notifications.tests.support import (
    PASSWORD,
    TIMEOUT,
    Browser,
    adb,
    closed_with,
    make_user,
    notify_path,
    token_for,
    ws_close_code,
    ws_connect,
    ws_frame,
    ws_quiet,
)
from tests.harness import BASE_DIR

NEW_PASSWORD = "a whole new passphrase 42"


async def open_both(sockets, user, headers=None):
    """A notify socket and an authenticated echo socket (the stand-in for a chat socket)."""
    notify, _ = await sockets.notify(user)
    echo, connected, _ = await sockets.connect(f"/ws/echo/?token={token_for(user)}")
    assert connected
    return notify, echo


# --- in-process: the ASGI application and Django's own ways of changing a user -------------
@pytest.mark.django_db(transaction=True)
async def test_logging_out_of_the_web_ui_closes_every_socket_of_the_user(sockets):
    alice = await adb(make_user)("alice")
    bob = await adb(make_user)("bob")
    client = Client()

    def login() -> str:
        resp = client.post("/login/", {"username": "alice", "password": PASSWORD})
        assert resp.status_code == 302, resp.status_code
        return client.cookies["sessionid"].value

    session = await adb(login)()
    cookie = [(b"cookie", f"sessionid={session}".encode())]
    session_notify, connected, _ = await sockets.connect(
        f"/ws/notify/user/{alice.pk}/", cookie
    )
    assert (
        connected
    )  # a session-authenticated notify socket, as the browser UI opens it
    assert (await session_notify.receive_json_from(TIMEOUT))["type"] == "welcome"
    token_notify, echo = await open_both(sockets, alice)
    bobs, _ = await sockets.notify(bob)

    assert (await adb(client.post)("/logout/")).status_code == 302

    assert await closed_with(session_notify) == 4401
    assert await closed_with(token_notify) == 4401
    assert await closed_with(echo) == 4401
    assert await bobs.receive_nothing(0.3)


def change_with_set_password(user):
    user.set_password(NEW_PASSWORD)
    user.save()


def change_with_password_change_form(user):
    # What the password-change view does with the user's POST.
    form = PasswordChangeForm(
        user,
        {
            "old_password": PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert form.is_valid(), form.errors
    form.save()


def change_in_the_admin(user):
    get_user_model().objects.create_superuser("root", password="root-pass-1234")
    client = Client()
    client.login(username="root", password="root-pass-1234")
    resp = client.post(
        f"/admin/accounts/user/{user.pk}/password/",
        {
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "usable_password": "true",
        },
    )
    assert resp.status_code == 302, resp.content[:2000]


def change_with_the_changepassword_command(user):
    import getpass

    original = getpass.getpass
    getpass.getpass = lambda prompt="": NEW_PASSWORD
    try:
        call_command("changepassword", user.username)
    finally:
        getpass.getpass = original


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "change",
    [
        change_with_set_password,
        change_with_password_change_form,
        change_in_the_admin,
        change_with_the_changepassword_command,
    ],
)
async def test_a_password_change_closes_every_socket_of_the_user(sockets, change):
    alice = await adb(make_user)("alice")
    bob = await adb(make_user)("bob")
    notify, echo = await open_both(sockets, alice)
    bobs, _ = await sockets.notify(bob)

    await adb(change)(await get_user_model().objects.aget(pk=alice.pk))

    assert await closed_with(notify) == 4401
    assert await closed_with(echo) == 4401
    assert await bobs.receive_nothing(0.3)
    stored = await get_user_model().objects.aget(pk=alice.pk)
    assert stored.check_password(NEW_PASSWORD)


@pytest.mark.django_db(transaction=True)
async def test_deactivating_the_user_closes_every_socket_and_refuses_new_ones(sockets):
    alice = await adb(make_user)("alice")
    notify, echo = await open_both(sockets, alice)
    token = token_for(alice)

    def deactivate() -> None:
        user = get_user_model().objects.get(pk=alice.pk)
        user.is_active = False
        user.save()

    await adb(deactivate)()

    assert await closed_with(notify) == 4401
    assert await closed_with(echo) == 4401
    _, connected, code = await sockets.connect(notify_path(alice.pk, token))
    assert not connected and code == 1008  # HTTP 403 before accept


@pytest.mark.django_db(transaction=True)
async def test_deleting_the_user_closes_their_sockets(sockets):
    alice = await adb(make_user)("alice")
    notify, echo = await open_both(sockets, alice)
    await adb(lambda: get_user_model().objects.filter(pk=alice.pk).get().delete())()
    assert await closed_with(notify) == 4401
    assert await closed_with(echo) == 4401


@pytest.mark.django_db(transaction=True)
async def test_other_saves_and_rolled_back_changes_leave_the_sockets_open(sockets):
    alice = await adb(make_user)("alice")
    notify, echo = await open_both(sockets, alice)

    def harmless() -> None:
        user = get_user_model().objects.get(pk=alice.pk)
        user.first_name = "Alice"
        user.save()  # a full save, same hash, still active
        user.save(update_fields=["last_login"])  # what every login does
        with pytest.raises(RuntimeError), transaction.atomic():
            user.set_password(NEW_PASSWORD)
            user.is_active = False
            user.save()
            raise RuntimeError("rolled back: nothing was changed")

    await adb(harmless)()
    await notify.send_json_to({"type": "heartbeat"})
    assert (await notify.receive_json_from(TIMEOUT))["type"] == "heartbeat"
    assert await echo.receive_nothing(0.3)


# --- real servers: the browser's login form, other processes --------------------------------
@pytest.mark.e2e
async def test_real_logout_closes_the_session_socket_and_the_token_socket(
    live_server_proc,
):
    server = live_server_proc
    alice = server.api.user("alice")
    bob = server.api.user("bob")
    browser = Browser(server.url)
    # A plain thread: this talks HTTP to the real server and touches no test database.
    session = await asyncio.to_thread(browser.login, "alice")
    notify_url = f"{server.ws_url}/ws/notify/user/{alice.id}/"
    async with (
        ws_connect(
            notify_url, headers={"Cookie": f"sessionid={session}"}
        ) as by_session,
        ws_connect(f"{server.ws_url}/ws/echo/?token={alice.access}") as echo,
        ws_connect(
            f"{server.ws_url}/ws/notify/user/{bob.id}/?token={bob.access}"
        ) as bobs,
    ):
        assert (await ws_frame(by_session, "welcome"))["user"]["username"] == "alice"
        await ws_frame(bobs, "welcome")
        await echo.send("ping")
        assert await echo.recv() == "ping"

        assert (
            await asyncio.to_thread(browser.logout) == 200
        )  # redirected to the login page

        assert await ws_close_code(by_session) == 4401
        assert await ws_close_code(echo) == 4401
        assert await ws_quiet(bobs, 0.5)
    with pytest.raises(InvalidStatus) as refused:  # the session is gone
        async with ws_connect(notify_url, headers={"Cookie": f"sessionid={session}"}):
            pass
    assert refused.value.response.status_code == 403


@pytest.mark.e2e
async def test_deactivation_and_password_change_in_another_process_close_the_sockets(
    live_server_proc,
):
    server = (
        live_server_proc  # embedded: the other process reaches the server by the outbox
    )
    alice = server.api.user("alice")
    carol = server.api.user("carol")
    notify_url = f"{server.ws_url}/ws/notify/user/{{id}}/?token={{token}}"

    async with (
        ws_connect(notify_url.format(id=alice.id, token=alice.access)) as notify,
        ws_connect(f"{server.ws_url}/ws/echo/?token={alice.access}") as echo,
    ):
        await ws_frame(notify, "welcome")
        server.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model as g;"
            "u = g().objects.get(username='alice'); u.is_active = False; u.save()",
        )
        assert await ws_close_code(notify) == 4401
        assert await ws_close_code(echo) == 4401
    with pytest.raises(InvalidStatus):
        async with ws_connect(notify_url.format(id=alice.id, token=alice.access)):
            pass

    async with ws_connect(notify_url.format(id=carol.id, token=carol.access)) as notify:
        await ws_frame(notify, "welcome")
        # `manage.py changepassword`, typing the new password twice
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, str(BASE_DIR / "manage.py"), "changepassword", "carol"],
            input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n",
            env=server.env,
            cwd=BASE_DIR,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert await ws_close_code(notify) == 4401
