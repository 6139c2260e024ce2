"""Fixtures of the chat tests: users, rooms, recorded broadcasts, socket helpers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from rest_framework_simplejwt.tokens import AccessToken

from chat import services
from chat.topics import FOLLOW, UNFOLLOW
from realtime.fanout import broadcast

DEADLINE = 10.0


@pytest.fixture
def make_user(db: Any) -> Callable[..., Any]:
    """Create a user by name."""

    def make(username: str, **extra: Any) -> Any:
        return get_user_model().objects.create_user(
            username=username, password="pw-for-tests-123", **extra
        )

    return make


@pytest.fixture
def alice(make_user: Callable[..., Any]) -> Any:
    return make_user("alice")


@pytest.fixture
def bob(make_user: Callable[..., Any]) -> Any:
    return make_user("bob")


@pytest.fixture
def carol(make_user: Callable[..., Any]) -> Any:
    return make_user("carol")


@pytest.fixture
def lobby(alice: Any) -> Any:
    """A public room owned by alice."""
    return services.room_create(slug="lobby", name="Lobby", owner=alice)


@pytest.fixture
def secret(alice: Any) -> Any:
    """A private room owned by alice (so alice is on its whitelist)."""
    return services.room_create(
        slug="secret", name="Secret", is_private=True, owner=alice
    )


class Published(list):
    """Every (topic, event) dispatched after a commit, in order."""

    def frames(self, topic: str | None = None) -> list[dict[str, Any]]:
        """The frames for clients (not the internal FOLLOW and UNFOLLOW orders)."""
        return [
            json.loads(e.text)
            for t, e in self
            if e.text is not None
            and e.kind not in (FOLLOW, UNFOLLOW)
            and topic in (None, t)
        ]

    def follows(self) -> list[tuple[str, str, str | None]]:
        """(topic, FOLLOW or UNFOLLOW, the activity topic it names), in order."""
        return [(t, e.kind, e.text) for t, e in self if e.kind in (FOLLOW, UNFOLLOW)]

    def closes(self) -> list[tuple[str, int, int | None]]:
        return [
            (t, e.close_code, e.user_id) for t, e in self if e.close_code is not None
        ]


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Published:
    """Record what leaves through realtime.fanout.broadcast instead of delivering it."""
    record = Published()

    def dispatch_many(batch: Any) -> None:
        record.extend(batch)

    # The one road out (broadcast.dispatch hands its single event to it too).
    monkeypatch.setattr(broadcast, "dispatch_many", dispatch_many)
    return record


def token_for(user: Any) -> str:
    return str(AccessToken.for_user(user))


async def chat_socket(user: Any, slug: str, query: str = "") -> WebsocketCommunicator:
    """A connected chat socket through the whole ASGI stack (gate, router, consumer)."""
    from realtime.asgi import application

    extra = f"&{query}" if query else ""
    comm = WebsocketCommunicator(
        application, f"/ws/chat/{slug}/?token={token_for(user)}{extra}"
    )
    connected, _ = await comm.connect(timeout=DEADLINE)
    assert connected
    return comm


async def receive(
    comm: WebsocketCommunicator, within: float = DEADLINE
) -> dict[str, Any]:
    """The next frame as a dict (fails on a close)."""
    output = await comm.receive_output(within)
    assert output["type"] == "websocket.send", output
    return json.loads(output["text"])


async def receive_until(
    comm: WebsocketCommunicator,
    predicate: Callable[[dict[str, Any]], bool],
    within: float = DEADLINE,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Frames up to the first matching one: (that frame, the ones before it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    skipped: list[dict[str, Any]] = []
    while True:
        frame = await receive(comm, max(0.01, deadline - loop.time()))
        if predicate(frame):
            return frame, skipped
        skipped.append(frame)


async def closed_with(comm: WebsocketCommunicator, within: float = DEADLINE) -> int:
    """Skip frames until the server closes the socket; the close code."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        output = await comm.receive_output(max(0.01, deadline - loop.time()))
        if output["type"] == "websocket.close":
            return output.get("code", 1000)
