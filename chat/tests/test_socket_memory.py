"""A closed chat socket is freed by reference counting, not left to the cyclic collector.

The serving protocols and the consumer form no reference cycle, so a socket's whole state
(protocols, consumer, scope, user, room, buffers) is gone as soon as its connection and
task end. With cycles, every closed socket waited in the collector's old generation for a
rare full pass, and the heap fragmented: issue 7's soak grew RSS 6% over 100,000
connect/disconnect cycles before they were broken.

The socket goes through the real uvicorn serving stack (`realtime.server.protocols`'s
protocols), with the collector off, so only reference counting can free it.
"""

from __future__ import annotations

import asyncio
import gc
import socket

import pytest
import uvicorn
import websockets

from chat.tests.conftest import token_for
from realtime.asgi import application
from realtime.server.protocols import GuardedHttpProtocol, GuardedWebSocketProtocol
from realtime.socket.auth import Credentials
from realtime.socket.consumer import SocketConsumer

pytestmark = pytest.mark.django_db(transaction=True)

SOCKET_STATE = (GuardedHttpProtocol, GuardedWebSocketProtocol, SocketConsumer)


def socket_state() -> list[object]:
    # type(), not isinstance: a dead weak proxy among the objects raises on isinstance
    return [o for o in gc.get_objects() if issubclass(type(o), SOCKET_STATE)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chat_server(port: int) -> uvicorn.Server:
    return uvicorn.Server(
        uvicorn.Config(
            application,
            host="127.0.0.1",
            port=port,
            http=GuardedHttpProtocol,
            ws=GuardedWebSocketProtocol,
            ws_per_message_deflate=False,
            ws_ping_interval=None,
            lifespan="on",  # the lifecycle: hub, lease, presence on this loop
            log_config=None,
            access_log=False,
        )
    )


async def test_closed_chat_sockets_leave_nothing_for_the_cyclic_collector(alice, lobby):
    port = free_port()
    server = chat_server(port)
    serving = asyncio.create_task(server.serve())
    url = f"ws://127.0.0.1:{port}/ws/chat/{lobby.slug}/?token={token_for(alice)}"
    gc.collect()
    gc.disable()
    try:
        # uvicorn's state offers no event to wait on: polled
        while not server.started:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        for n in range(5):
            async with websockets.connect(url) as ws:
                welcome = await asyncio.wait_for(ws.recv(), 10)
                assert '"welcome"' in welcome
                await ws.send(
                    f'{{"type":"message","body":"hi {n}","client_id":"c{n}"}}'
                )
                await asyncio.wait_for(ws.recv(), 10)
        async with asyncio.timeout(10):  # the server side finishes its teardown
            while server.server_state.connections or server.server_state.tasks:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        assert socket_state() == []
    finally:
        gc.enable()
        server.should_exit = True
        await serving


async def test_an_open_chat_socket_keeps_no_handshake_leftovers(alice, lobby):
    """Issue 13: the request, its headers, the token and its claims are handshake-only;
    an idle socket that kept them cost about 6 KB more."""
    port = free_port()
    server = chat_server(port)
    serving = asyncio.create_task(server.serve())
    token = token_for(alice)
    url = f"ws://127.0.0.1:{port}/ws/chat/{lobby.slug}/?token={token}"
    try:
        while not server.started:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        async with websockets.connect(url) as ws:
            assert '"welcome"' in await asyncio.wait_for(ws.recv(), 10)
            (protocol,) = server.server_state.connections
            assert isinstance(protocol, GuardedWebSocketProtocol)
            assert protocol.request is None and protocol.response is None
            assert protocol.scope["headers"] == []
            assert "credentials" not in protocol.scope  # the consumer took them
            # Parsed once by httptools, the request never went through websockets'
            # parser: the frame parser it runs holds no request at all.
            assert "request" not in protocol.conn.parser.gi_frame.f_locals
            creds = [o for o in gc.get_objects() if type(o) is Credentials]
            assert creds and all(c.claims is None for c in creds)
            # the socket still answers
            await ws.send('{"type":"heartbeat"}')
            assert '"heartbeat"' in await asyncio.wait_for(ws.recv(), 10)
    finally:
        server.should_exit = True
        await serving
