"""A lean WebSocket client for many sockets in one process.

An `asyncio.Protocol` driving the Sans-I/O `websockets.client.ClientProtocol`: frames are
handled inside `data_received`, one clock read per read from the socket, with no task,
queue or future per frame. No compression is offered, so every server sends plain frames.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

perf_ns = time.perf_counter_ns

# Called as on_text(client, payload_bytes, now_ns) for every complete text message.
TextHandler = Callable[["WSClient", bytes, int], None]


class WSClient(asyncio.Protocol):
    """One WebSocket connection; counters and per-phase tallies live on it."""

    __slots__ = (
        "url",
        "index",
        "room",
        "on_text",
        "proto",
        "transport",
        "opened",
        "ready",
        "closed",
        "status",
        "close_code",
        "error",
        "frag",
        "frames",
        "seen",
        "seen_seq",
        "welcome",
        "t_start",
        "t_open",
    )

    def __init__(self, url: str, index: int, room: int, on_text: TextHandler) -> None:
        self.url = url
        self.index = index
        self.room = room
        self.on_text = on_text
        self.proto = ClientProtocol(parse_uri(url), max_size=None)
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[bool] = loop.create_future()
        self.ready: asyncio.Future[bool] = loop.create_future()
        self.closed: asyncio.Future[bool] = loop.create_future()
        self.status: int | None = None
        self.close_code: int | None = None
        self.error: str | None = None
        self.frag: list[bytes] | None = None
        # Per-phase tallies, reset by the scenario.
        self.frames = 0
        self.seen = bytearray()
        self.seen_seq = bytearray()
        self.welcome: dict[str, Any] | None = None
        self.t_start = perf_ns()
        self.t_open = 0

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.proto.send_request(self.proto.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        proto = self.proto
        proto.receive_data(data)
        events = proto.events_received()
        if events:
            now = perf_ns()
            on_text = self.on_text
            for ev in events:
                if isinstance(ev, Response):
                    self._handshake_done(ev, now)
                    continue
                op = ev.opcode
                if op is Opcode.TEXT:
                    if ev.fin:
                        on_text(self, ev.data, now)
                    else:
                        self.frag = [ev.data]
                elif op is Opcode.CONT and self.frag is not None:
                    self.frag.append(ev.data)
                    if ev.fin:
                        data_ = b"".join(self.frag)
                        self.frag = None
                        on_text(self, data_, now)
                elif op is Opcode.CLOSE:
                    self.close_code = proto.close_code
        self._flush()

    def eof_received(self) -> bool | None:
        self.proto.receive_eof()
        self._flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.close_code is None:
            self.close_code = self.proto.close_code
        if exc is not None and self.error is None:
            self.error = type(exc).__name__
        for fut in (self.opened, self.ready):
            if not fut.done():
                fut.set_result(False)
        if not self.closed.done():
            self.closed.set_result(True)

    # Sending

    def _flush(self) -> None:
        transport = self.transport
        if transport is None:
            return
        for chunk in self.proto.data_to_send():
            if chunk:
                transport.write(chunk)
            elif transport.can_write_eof():
                transport.write_eof()

    def _handshake_done(self, response: Response, now: int) -> None:
        self.status = response.status_code
        self.t_open = now
        ok = self.proto.handshake_exc is None and self.proto.state is State.OPEN
        if not ok:
            self.error = f"http_{response.status_code}"
        if not self.opened.done():
            self.opened.set_result(ok)
        if not ok and not self.ready.done():
            self.ready.set_result(False)

    @property
    def is_open(self) -> bool:
        """True while frames can be sent."""
        return self.proto.state is State.OPEN

    def send(self, data: bytes) -> bool:
        """Send a text frame (already UTF-8); False if the socket is not open."""
        if self.proto.state is not State.OPEN:
            return False
        self.proto.send_text(data)
        self._flush()
        return True

    def mark_ready(self) -> None:
        """The scenario saw what it waits for (the welcome frame, or the handshake)."""
        if not self.ready.done():
            self.ready.set_result(True)

    async def close(self, code: int = 1000, timeout: float = 5.0) -> None:
        """Close handshake, then wait for the server to end the TCP connection."""
        if self.transport is None:
            return
        if self.proto.state is State.OPEN:
            self.proto.send_close(code)
            self._flush()
        elif self.proto.state is State.CONNECTING:
            self.transport.abort()
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        except TimeoutError:
            self.transport.abort()


async def open_client(
    url: str,
    host: str,
    port: int,
    index: int,
    room: int,
    on_text: TextHandler,
    *,
    local_addr: tuple[str, int] | None = None,
    timeout: float = 30.0,
) -> WSClient:
    """Connect and finish the WebSocket handshake (not waiting for a welcome)."""
    loop = asyncio.get_running_loop()
    client = WSClient(url, index, room, on_text)
    try:
        await asyncio.wait_for(
            loop.create_connection(lambda: client, host, port, local_addr=local_addr),
            timeout,
        )
        await asyncio.wait_for(asyncio.shield(client.opened), timeout)
    except (OSError, TimeoutError) as exc:
        client.error = client.error or type(exc).__name__
        if client.transport is not None:
            client.transport.abort()
        for fut in (client.opened, client.ready, client.closed):
            if not fut.done():
                fut.set_result(False)
    return client
