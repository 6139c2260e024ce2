"""SocketRouter: Channels' URL matching, on the connection's own scope."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import path

from realtime.socket.routes import SocketRouter


def _router(seen: list[dict[str, Any]]) -> SocketRouter:
    async def consumer(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope)

    return SocketRouter([path("ws/chat/<slug:slug>/", consumer)])


async def test_the_consumer_gets_the_connections_own_scope_with_its_url_route():
    seen: list[dict[str, Any]] = []
    scope = {"type": "websocket", "path": "/ws/chat/lobby/", "credentials": "c"}
    await _router(seen)(scope, None, None)
    # the same dict: what the consumer pops (the gate's credentials) is gone for good
    assert seen == [scope] and seen[0] is scope
    assert scope["url_route"] == {"args": (), "kwargs": {"slug": "lobby"}}
    assert scope["path_remaining"] == ""


async def test_an_unknown_path_raises_channels_no_route_error_for_the_gate():
    with pytest.raises(ValueError, match="^No route found"):
        await _router([])({"type": "websocket", "path": "/ws/nope/"}, None, None)


async def test_root_path_is_stripped_before_matching():
    seen: list[dict[str, Any]] = []
    scope = {"type": "websocket", "path": "/app/ws/chat/x/", "root_path": "/app"}
    await _router(seen)(scope, None, None)
    assert seen[0]["url_route"]["kwargs"] == {"slug": "x"}
