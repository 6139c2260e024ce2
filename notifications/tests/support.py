"""Test helpers shared by the notify and account tests: tokens, sockets, real-server clients."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from rest_framework_simplejwt.tokens import AccessToken

TIMEOUT = 10  # seconds: a deadline, never a sleep


def token_for(user: Any, lifetime: float | None = None) -> str:
    """An access JWT for `user`, minted the way the token endpoint does."""
    token = AccessToken.for_user(user)
    if lifetime is not None:
        token.set_exp(lifetime=dt.timedelta(seconds=lifetime))
    return str(token)


def notify_path(user_id: Any, token: str | None) -> str:
    query = f"?token={token}" if token else ""
    return f"/ws/notify/user/{user_id}/{query}"


PASSWORD = "correct horse battery staple"


def make_user(username: str, **fields: Any) -> Any:
    """A saved user with PASSWORD (sync: call it through adb() from async code)."""
    user = get_user_model()(username=username, **fields)
    user.set_password(PASSWORD)
    user.save()
    return user


class Sockets:
    """Open sockets against realtime.asgi.application; all closed at the end."""

    def __init__(self) -> None:
        self.open: list[WebsocketCommunicator] = []

    async def connect(
        self, path: str, headers: list[tuple[bytes, bytes]] | None = None
    ):
        from realtime.asgi import application

        comm = WebsocketCommunicator(application, path, headers=headers or [])
        connected, code = await comm.connect(timeout=TIMEOUT)
        self.open.append(comm)
        return comm, connected, code

    async def notify(
        self, user: Any, token: str | None = None
    ) -> tuple[WebsocketCommunicator, dict]:
        """An accepted notify socket of `user` and its welcome frame."""
        token = token or token_for(user)
        comm, connected, code = await self.connect(notify_path(user.pk, token))
        assert connected, code
        welcome = await comm.receive_json_from(timeout=TIMEOUT)
        assert welcome["type"] == "welcome", welcome
        return comm, welcome

    async def close_all(self) -> None:
        for comm in self.open:
            try:
                await asyncio.wait_for(comm.disconnect(), TIMEOUT)
            except (Exception, asyncio.CancelledError):
                pass  # already gone (a receive timeout cancels the application)


async def closed_with(comm: WebsocketCommunicator, within: float = TIMEOUT) -> int:
    """Read until the server closes the socket; its close code."""
    while True:
        message = await comm.receive_output(within)
        if message["type"] == "websocket.close":
            return message.get("code", 1000)


async def next_frame(
    comm: WebsocketCommunicator, kind: str, within: float = TIMEOUT
) -> dict:
    """The next frame of type `kind` (others, such as heartbeats, are skipped)."""
    while True:
        frame = await comm.receive_json_from(within)
        if frame.get("type") == kind:
            return frame


adb = database_sync_to_async


# --- real servers (manage.py serve) and the `websockets` client ------------------------------
def ws_connect(url: str, *, headers: dict[str, str] | None = None):
    """A `websockets` client connection (no proxy, no library pings: the protocol's own)."""
    from websockets.asyncio.client import connect

    return connect(
        url,
        additional_headers=headers or {},
        proxy=None,
        open_timeout=TIMEOUT,
        ping_interval=None,
        close_timeout=2,
    )


async def ws_frame(ws: Any, kind: str, within: float = TIMEOUT) -> dict:
    """The next JSON frame of type `kind` on a real socket (others skipped)."""
    import orjson

    async def read() -> dict:
        while True:
            frame = orjson.loads(await ws.recv())
            if frame.get("type") == kind:
                return frame

    return await asyncio.wait_for(read(), within)


async def ws_close_code(ws: Any, within: float = TIMEOUT) -> int | None:
    """Read (discarding frames) until the server closes; the close code it sent."""
    from websockets.exceptions import ConnectionClosed

    async def drain() -> None:
        try:
            while True:
                await ws.recv()
        except ConnectionClosed:
            return

    await asyncio.wait_for(drain(), within)
    return ws.close_code


async def ws_quiet(ws: Any, seconds: float) -> bool:
    """True when nothing arrives (and the socket stays open) for `seconds`."""
    try:
        await asyncio.wait_for(ws.recv(), seconds)
    except TimeoutError:
        return True
    return False


def make_staff(server: Any, username: str) -> None:
    """Make a user of a real server staff who may send notifications (a manage.py shell)."""
    server.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model as g;"
        "from django.contrib.auth.models import Permission as P;"
        f"u = g().objects.get(username={username!r}); u.is_staff = True; u.save();"
        "u.user_permissions.add(P.objects.get(codename='add_notification'))",
    )


class Browser:
    """A cookie-keeping HTTP client: logs in through the /login/ form, posts /logout/."""

    def __init__(self, base: str) -> None:
        import http.cookiejar
        import urllib.request

        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar),
            urllib.request.ProxyHandler({}),
        )

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)

    def post_form(self, path: str, fields: dict[str, str]) -> int:
        """POST a form with the CSRF cookie's token (fetched from /login/ the first time)."""
        import urllib.parse
        import urllib.request

        if self.cookie("csrftoken") is None:
            self.opener.open(self.base + "/login/", timeout=TIMEOUT).read()
        data = {"csrfmiddlewaretoken": self.cookie("csrftoken") or "", **fields}
        req = urllib.request.Request(
            self.base + path, data=urllib.parse.urlencode(data).encode(), method="POST"
        )
        with self.opener.open(req, timeout=TIMEOUT) as resp:
            return resp.status

    def login(self, username: str, password: str = PASSWORD) -> str:
        """Sign in through the page's form; the session cookie."""
        self.post_form("/login/", {"username": username, "password": password})
        session = self.cookie("sessionid")
        assert session, "login did not set a session cookie"
        return session

    def logout(self) -> int:
        """POST /logout/ (the browser UI's way out)."""
        return self.post_form("/logout/", {})
