"""A lean WebSocket client (RFC 6455) for many sockets in one process.

An `asyncio.Protocol` that does the opening handshake and the framing itself: frames are
parsed inside `data_received` straight from the read buffer, one clock read per read,
with no task, queue, future or generator step per frame. The load generator needs that:
`websockets`' own Sans-I/O parser costs about 3.5 us a frame, more than the rest of the
per-frame work together. No extension is offered, so every server sends plain frames.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import time
from collections.abc import Callable
from urllib.parse import urlsplit

try:
    from websockets.speedups import apply_mask
except ImportError:  # the pure-Python one is slower but the same
    from websockets.utils import apply_mask

perf_ns = time.perf_counter_ns

# Called as on_text(client, payload, now_ns) for every complete text message.
TextHandler = Callable[["WSClient", bytes, int], None]

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONNECTING, OPEN, CLOSING, CLOSED = range(4)
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
MAX_HEADER_BYTES = 65536


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """A final, masked client frame."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    mask = random.randbytes(4)
    return head + mask + apply_mask(payload, mask)


def parse_frames(buf: bytes | bytearray) -> tuple[list[tuple[int, bool, bytes]], int]:
    """Complete server frames at the start of buf as (opcode, fin, payload); bytes used.

    Test helper and reference for the inlined loop in `WSClient.data_received`.
    """
    out = []
    pos, n = 0, len(buf)
    while n - pos >= 2:
        b0, b1 = buf[pos], buf[pos + 1]
        length, head = b1 & 0x7F, 2
        if length == 126:
            if n - pos < 4:
                break
            length, head = (buf[pos + 2] << 8) | buf[pos + 3], 4
        elif length == 127:
            if n - pos < 10:
                break
            length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
        if b1 & 0x80:
            raise ValueError("masked frame from a server")
        end = pos + head + length
        if end > n:
            break
        out.append((b0 & 0x0F, bool(b0 & 0x80), bytes(buf[pos + head : end])))
        pos = end
    return out, pos


class WSClient(asyncio.Protocol):
    """One WebSocket connection; counters and per-phase tallies live on it."""

    __slots__ = (
        "host",
        "path",
        "index",
        "room",
        "on_text",
        "transport",
        "state",
        "key",
        "buf",
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
        parts = urlsplit(url)
        self.host = parts.netloc
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.index = index
        self.room = room
        self.on_text = on_text
        self.transport: asyncio.Transport | None = None
        self.state = CONNECTING
        self.key = base64.b64encode(random.randbytes(16))
        self.buf = bytearray()
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
        self.welcome: dict | None = None
        self.t_start = perf_ns()
        self.t_open = 0

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        request = (
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {self.key.decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        self.transport.write(request.encode())

    def data_received(self, data: bytes) -> None:
        if self.state == CONNECTING:
            self.buf += data
            data = self._handshake()
            if not data:
                return
        buf = self.buf
        if buf:
            buf += data
        else:
            buf = data
        now = perf_ns()
        on_text = self.on_text
        pos, n = 0, len(buf)
        while n - pos >= 2:
            b0 = buf[pos]
            length = buf[pos + 1]
            head = 2
            if length >= 126:
                if length == 126:
                    if n - pos < 4:
                        break
                    length, head = (buf[pos + 2] << 8) | buf[pos + 3], 4
                elif length == 127:
                    if n - pos < 10:
                        break
                    length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
                else:  # the mask bit: servers never mask
                    self._fail(1002, "masked_frame")
                    return
            end = pos + head + length
            if end > n:
                break
            if b0 == 0x81:  # a final text frame: the hot path
                on_text(self, buf[pos + head : end], now)
            else:
                self._other_frame(b0, bytes(buf[pos + head : end]), now)
                if self.state == CLOSED:
                    return
            pos = end
        self.buf = bytearray(buf[pos:]) if pos < n else bytearray()

    def _handshake(self) -> bytes:
        """Parse the 101 response; return the bytes that follow it (frames)."""
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEADER_BYTES:
                self._fail_handshake("header_too_long")
            return b""
        head = bytes(buf[:end]).decode("latin-1").split("\r\n")
        rest = bytes(buf[end + 4 :])
        self.buf = bytearray()
        self.t_open = perf_ns()
        try:
            self.status = int(head[0].split(" ", 2)[1])
        except (IndexError, ValueError):
            self._fail_handshake("bad_status_line")
            return b""
        if self.status != 101:
            self._fail_handshake(f"http_{self.status}")
            return b""
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        accept = base64.b64encode(hashlib.sha1(self.key + GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != accept:
            self._fail_handshake("bad_accept")
            return b""
        if headers.get("sec-websocket-extensions"):
            self._fail_handshake("unrequested_extension")
            return b""
        self.state = OPEN
        if not self.opened.done():
            self.opened.set_result(True)
        return rest or b""

    def _fail_handshake(self, reason: str) -> None:
        self.error = reason
        self.state = CLOSED
        if not self.opened.done():
            self.opened.set_result(False)
        if not self.ready.done():
            self.ready.set_result(False)
        if self.transport is not None:
            self.transport.close()

    def _other_frame(self, b0: int, payload: bytes, now: int) -> None:
        op, fin = b0 & 0x0F, b0 & 0x80
        if op == OP_TEXT:
            self.frag = [payload]
        elif op == OP_CONT and self.frag is not None:
            self.frag.append(payload)
            if fin:
                data, self.frag = b"".join(self.frag), None
                self.on_text(self, data, now)
        elif op == OP_PING:
            self._write(encode_frame(OP_PONG, payload))
        elif op == OP_CLOSE:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.close_code = code
            if self.state == OPEN:  # the server closes: echo its code, as RFC 6455 says
                self._write(encode_frame(OP_CLOSE, payload[:2]))
            self.state = CLOSING
            # The server closes TCP first; if it does not, close() aborts after a timeout.
        elif op == OP_BINARY:
            pass  # chat frames are text; a binary one is ignored, not counted

    def _fail(self, code: int, reason: str) -> None:
        self.error = reason
        if self.state == OPEN:
            self._write(encode_frame(OP_CLOSE, code.to_bytes(2, "big")))
        self.state = CLOSED
        if self.transport is not None:
            self.transport.abort()

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def eof_received(self) -> bool | None:
        return None  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        if self.state == OPEN and self.close_code is None:
            self.close_code = 1006
        self.state = CLOSED
        if exc is not None and self.error is None:
            self.error = type(exc).__name__
        for fut in (self.opened, self.ready):
            if not fut.done():
                fut.set_result(False)
        if not self.closed.done():
            self.closed.set_result(True)

    # Sending

    @property
    def is_open(self) -> bool:
        """True while frames can be sent."""
        return self.state == OPEN

    def send(self, data: bytes) -> bool:
        """Send a text frame (already UTF-8); False if the socket is not open."""
        if self.state != OPEN:
            return False
        self.transport.write(encode_frame(OP_TEXT, data))  # type: ignore[union-attr]
        return True

    def mark_ready(self) -> None:
        """The scenario saw what it waits for (the welcome frame, or the handshake)."""
        if not self.ready.done():
            self.ready.set_result(True)

    async def close(self, code: int = 1000, grace: float = 5.0) -> None:
        """Close handshake, then wait for the server to end the TCP connection."""
        if self.transport is None or self.closed.done():
            return
        if self.state == OPEN:
            self._write(encode_frame(OP_CLOSE, code.to_bytes(2, "big")))
            self.state = CLOSING
        elif self.state == CONNECTING:
            self.transport.abort()
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), grace)
        except TimeoutError:
            self.error = self.error or "close_timeout"
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
    handshake_timeout: float = 30.0,
) -> WSClient:
    """Connect and finish the WebSocket handshake (not waiting for a welcome)."""
    loop = asyncio.get_running_loop()
    client = WSClient(url, index, room, on_text)
    try:
        await asyncio.wait_for(
            loop.create_connection(lambda: client, host, port, local_addr=local_addr),
            handshake_timeout,
        )
        await asyncio.wait_for(asyncio.shield(client.opened), handshake_timeout)
    except (OSError, TimeoutError) as exc:
        client.error = client.error or type(exc).__name__
        if client.transport is not None:
            client.transport.abort()
        for fut in (client.opened, client.ready, client.closed):
            if not fut.done():
                fut.set_result(False)
    return client
