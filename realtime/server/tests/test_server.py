"""The serving protocol's guards, driven through a fake transport (no sockets, no Django app).

A fake transport lets each test set what the kernel would decide: how much of the written
bytes it has not taken, and when flow control pauses or resumes writing.
"""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from realtime.server import protocols
from realtime.server.protocols import GuardedHttpProtocol, GuardedWebSocketProtocol
from realtime.socket.frames import QUEUED_BYTES

HIGH_WATER = 1024  # the fake transport's flow-control mark
BOUND = 4096  # WS_MAX_OUTBOUND_BYTES in these tests
PONG = 127  # bytes of the pong of a 125-byte ping
GRACE = 0.05  # WS_CLOSE_GRACE in these tests


class FakeTransport:
    """Keeps everything written unsent (a peer that reads nothing) until told otherwise."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.unsent = 0
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written += data
        self.unsent += len(data)

    def get_write_buffer_size(self) -> int:
        return self.unsent

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (HIGH_WATER // 4, HIGH_WATER)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("203.0.113.7", 5000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_protocol(self, protocol: Any) -> None:  # the HTTP protocol's upgrade
        self.protocol = protocol


async def _app(scope: dict, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    while (await receive())["type"] != "websocket.disconnect":
        pass


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(protocols, "_limits", lambda: (10.0, 65536, GRACE, BOUND))


@pytest.fixture
async def proto(limits: None) -> Any:
    """An open socket on a GuardedWebSocketProtocol over a FakeTransport."""
    config = uvicorn.Config(
        _app, ws=GuardedWebSocketProtocol, ws_per_message_deflate=False, lifespan="off"
    )
    config.load()
    protocol = GuardedWebSocketProtocol(config, ServerState(), {})
    transport = FakeTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    protocol.data_received(_upgrade("/ws/echo/"))
    for _ in range(20):  # the app task accepts
        if protocol.handshake_complete:
            break
        await asyncio.sleep(0)
    assert protocol.handshake_complete
    assert transport.written.startswith(b"HTTP/1.1 101")
    transport.written.clear()
    transport.unsent = 0
    yield protocol
    protocol.connection_lost(None)
    await asyncio.sleep(0)


def _upgrade(path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def _ping(payload: bytes = b"p" * 125) -> bytes:
    return _client_frame(0x9, payload)


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame of at most 125 bytes."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x80 | opcode, 0x80 | len(payload))) + mask + masked


def _pause(protocol: Any) -> None:
    """The kernel stopped taking bytes and the buffer passed its high-water mark."""
    protocol.transport.unsent = HIGH_WATER + 1
    protocol.pause_writing()


async def test_pings_are_answered_while_the_peer_reads(proto):
    proto.data_received(_ping() * 100)
    assert proto.transport.written.count(b"\x8a\x7d") == 100  # 100 pongs
    assert not proto.close_sent


async def test_pings_never_reach_the_socket_so_only_data_frames_defer_4408(limits):
    """docs/protocol.md section 12: the silence deadline counts the app's
    `websocket.receive` messages only (realtime.socket.session); a ping makes none."""
    received: list[str] = []

    async def app(scope: dict, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] != "websocket.disconnect":
            received.append(message.get("text"))

    config = uvicorn.Config(
        app, ws=GuardedWebSocketProtocol, ws_per_message_deflate=False, lifespan="off"
    )
    config.load()
    protocol = GuardedWebSocketProtocol(config, ServerState(), {})
    transport = FakeTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    protocol.data_received(_upgrade("/ws/echo/"))
    for _ in range(20):
        await asyncio.sleep(0)
    protocol.data_received(_ping() * 5 + _client_frame(0x1, b"hi") + _ping())
    for _ in range(20):
        await asyncio.sleep(0)
    assert transport.written.count(b"\x8a\x7d") == 6  # every ping answered
    assert received == ["hi"]  # and none of them handed to the socket
    protocol.connection_lost(None)
    await asyncio.sleep(0)


async def test_pongs_unread_past_the_byte_bound_close_4503_and_drop_the_connection(
    proto,
):
    _pause(proto)
    proto.data_received(_ping() * 20)  # under the bound: answered
    assert not proto.close_sent
    proto.data_received(_ping() * 200)  # 25 KB of pongs the peer never reads
    assert proto.close_sent
    written = bytes(proto.transport.written)
    assert b"\x88\x02" + (4503).to_bytes(2, "big") in written  # the close frame
    assert written.count(b"\x8a\x7d") <= (BOUND - HIGH_WATER) // PONG  # not past it
    assert (await proto.queue.get()) == {
        "type": "websocket.disconnect",
        "code": 4503,
        "reason": "",
    }
    proto.data_received(_ping() * 200)  # more pings while closing: no more pongs
    assert bytes(proto.transport.written) == written
    await asyncio.sleep(GRACE * 4)
    assert proto.transport.aborted  # the bytes are still stuck: dropped, not closed


async def test_queued_bytes_leave_out_one_large_frame_taken_while_writable(proto):
    queued = proto.scope["extensions"][QUEUED_BYTES]
    proto.transport.unsent = 3 * 1024 * 1024  # a resume's long welcome, just written
    proto.pause_writing()
    assert queued() == HIGH_WATER
    proto.data_received(_ping() * 10)  # pongs behind it count, the welcome does not
    assert queued() == HIGH_WATER + 10 * PONG
    assert not proto.close_sent
    proto.transport.unsent = 1000
    proto.resume_writing()
    assert queued() == 1000


async def test_an_unparsable_handshake_is_answered_and_closed(limits):
    config = uvicorn.Config(_app, ws=GuardedWebSocketProtocol, lifespan="off")
    config.load()
    protocol = GuardedWebSocketProtocol(config, ServerState(), {})
    transport = FakeTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    protocol.data_received(_upgrade("/ws/echo/?" + "a" * 9000))
    assert transport.written.startswith(b"HTTP/1.1 414")
    assert transport.closed


async def test_an_accepted_socket_keeps_no_handshake_request_response_or_headers(
    limits,
):
    seen: list[list[tuple[bytes, bytes]]] = []

    async def app(scope: dict, receive: Any, send: Any) -> None:
        await receive()
        seen.append(list(scope["headers"]))  # the app reads them before accept
        await send({"type": "websocket.accept"})
        while (await receive())["type"] != "websocket.disconnect":
            pass

    config = uvicorn.Config(
        app, ws=GuardedWebSocketProtocol, ws_per_message_deflate=False, lifespan="off"
    )
    config.load()
    protocol = GuardedWebSocketProtocol(config, ServerState(), {})
    protocol.connection_made(FakeTransport())  # type: ignore[arg-type]
    protocol.data_received(_upgrade("/ws/echo/?token=secret"))
    for _ in range(20):
        if protocol.handshake_complete:
            break
        await asyncio.sleep(0)
    assert protocol.handshake_complete
    assert (b"Upgrade", b"websocket") in seen[0]

    assert protocol.request is None
    assert protocol.response is None
    assert protocol.scope["headers"] == []
    # websockets' parser keeps the Request in its generator for the connection's life
    kept = protocol.conn.parser.gi_frame.f_locals["request"]
    assert (kept.path, list(kept.headers.raw_items())) == ("", [])
    # and the socket still works: a ping is answered
    protocol.data_received(_ping(b"still here"))
    assert protocol.transport.written.endswith(b"still here")
    protocol.connection_lost(None)
    await asyncio.sleep(0)


async def _upgraded(raw: bytes) -> tuple[Any, FakeTransport, list[dict]]:
    """`raw` fed to our HTTP protocol: (the WebSocket protocol it upgraded to, the
    transport, the scopes the app saw)."""
    scopes: list[dict] = []

    async def app(scope: dict, receive: Any, send: Any) -> None:
        scopes.append({**scope, "headers": list(scope["headers"])})
        await _app(scope, receive, send)

    config = uvicorn.Config(
        app,
        http=GuardedHttpProtocol,
        ws=GuardedWebSocketProtocol,
        ws_per_message_deflate=False,
        lifespan="off",
    )
    config.load()
    http = GuardedHttpProtocol(config, ServerState(), {})
    transport = FakeTransport()
    http.connection_made(transport)  # type: ignore[arg-type]
    http.data_received(raw)
    protocol = getattr(transport, "protocol", None)
    for _ in range(20):
        if protocol is None or protocol.handshake_complete:
            break
        await asyncio.sleep(0)
    return protocol, transport, scopes


SCOPE_KEYS = ("path", "raw_path", "query_string", "headers", "client", "server")


async def test_a_handshake_parsed_once_reaches_the_app_as_the_second_parse_did(
    limits, monkeypatch
):
    raw = _upgrade("/ws/echo/?token=a%20b&since=3").replace(
        b"\r\n\r\n",
        b"\r\nOrigin: http://127.0.0.1 \t\r\nX-Odd: caf\xe9\r\n\r\n",
    )
    # A blank after the key: websockets strips it, and so must the one-parse road.
    raw = raw.replace(b"==\r\n", b"== \r\n")
    once, once_transport, once_scopes = await _upgraded(raw)
    assert once.request is None and once.handshake_complete  # took the one-parse road
    monkeypatch.setattr(protocols, "parsed_request", lambda *args: None)
    twice, twice_transport, twice_scopes = await _upgraded(raw)
    assert twice.handshake_complete
    assert [once_scopes[0][k] for k in SCOPE_KEYS] == [
        twice_scopes[0][k] for k in SCOPE_KEYS
    ]
    assert once_transport.written.startswith(b"HTTP/1.1 101")
    assert (
        once_transport.written.split(b"\r\n")[0:3]
        == (twice_transport.written.split(b"\r\n")[0:3])
    )
    once.data_received(_ping(b"open"))
    assert once_transport.written.endswith(b"open")  # frames are read after it
    for protocol in (once, twice):
        protocol.connection_lost(None)
    await asyncio.sleep(0)


async def test_a_request_websockets_would_refuse_is_still_refused_by_websockets(limits):
    _, transport, scopes = await _upgraded(_upgrade("/ws/echo/?" + "a" * 9000))
    assert transport.written.startswith(b"HTTP/1.1 414")
    assert transport.closed and scopes == []


@pytest.mark.parametrize(
    ("method", "version", "url", "headers"),
    [
        ("POST", "1.1", b"/ws/", []),
        ("GET", "1.0", b"/ws/", []),
        ("GET", "1.1", "/ws/é".encode(), []),
        ("GET", "1.1", b"/" * 8178, []),  # "GET " url " HTTP/1.1\r\n": 8,193 bytes
        ("GET", "1.1", b"/ws/", [(b"x-long", b"v" * 8200)]),
        ("GET", "1.1", b"/ws/", [(b"bad name", b"v")]),
        ("GET", "1.1", b"/ws/", [(b"x", b"a\x00b")]),
        ("GET", "1.1", b"/ws/", [(b"transfer-encoding", b"chunked")]),
        ("GET", "1.1", b"/ws/", [(b"content-length", b"5")]),
        ("GET", "1.1", b"/ws/", [(b"x", b"v")] * 129),
    ],
)
def test_what_websockets_parser_might_answer_otherwise_is_left_to_it(
    method, version, url, headers
):
    assert protocols.parsed_request(method, version, url, headers) is None


def test_a_plain_handshake_becomes_websockets_request_as_is():
    request = protocols.parsed_request(
        "GET", "1.1", b"/ws/x/?a=1", [(b"host", b"h"), (b"content-length", b"0")]
    )
    assert request is not None
    assert request.path == "/ws/x/?a=1"
    assert list(request.headers.raw_items()) == [("host", "h"), ("content-length", "0")]
    longest = protocols.parsed_request("GET", "1.1", b"/" * 8177, [(b"k", b"v \t")])
    assert longest is not None and longest.headers["k"] == "v"
