"""uvicorn's protocols with the transport guards they lack.

uvicorn is the HTTP and WebSocket engine; each guard here is a fault a production
server meets:

- A connection that never completes its HTTP request head (slowloris, a half-open TCP
  connect) is dropped after `HTTP_HEADER_TIMEOUT` seconds; a request head over
  `HTTP_MAX_HEADER_BYTES` is answered 431. uvicorn's httptools protocol arms no timer
  before the first request, so an idle connection would otherwise stay forever.
- A WebSocket whose peer stopped reading: uvicorn's send waits for the transport to become
  writable, so the base consumer's outbound queue fills and it closes the socket with
  4503; but that close frame would wait for writability too, forever. Here a close while
  the transport is paused is queued behind the backlog and the connection is dropped
  after a short grace, so a peer that never reads cannot pin a socket or its memory.
  Pongs are the one thing written regardless of flow control: a peer that pings and
  never reads is closed 4503 the same way once they pass WS_MAX_OUTBOUND_BYTES.
- A handshake is parsed once: httptools' parse becomes websockets' Request directly,
  where uvicorn wrote the request out again for websockets to parse a second time;
  anything websockets' own parser might answer otherwise takes that road, as before.
- A handshake request that websockets' own parser refuses (a request line over 8 KB, a
  header line too long, a non-ASCII path) is answered (414, 431, 400) and closed; uvicorn
  left the answer unsent and the connection open.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.utils import is_ssl
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.datastructures import Headers
from websockets.http11 import MAX_LINE_LENGTH, MAX_NUM_HEADERS, Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from realtime.socket.frames import FRAME_WRITER, QUEUED_BYTES

log = logging.getLogger("realtime.server")

#: close code of a socket whose peer does not read (CloseCode.TOO_SLOW; no Django here)
TOO_SLOW = 4503

_BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
)


@functools.cache
def _limits() -> tuple[float, int, float, int]:
    """(HTTP_HEADER_TIMEOUT, HTTP_MAX_HEADER_BYTES, WS_CLOSE_GRACE, WS_MAX_OUTBOUND_BYTES),
    read once per process."""
    from django.conf import settings

    return (
        float(settings.HTTP_HEADER_TIMEOUT),
        int(settings.HTTP_MAX_HEADER_BYTES),
        float(settings.WS_CLOSE_GRACE),
        int(settings.WS_MAX_OUTBOUND_BYTES),
    )


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request-head deadline and size bound."""

    _head_timer: asyncio.TimerHandle | None = None
    _head_bytes = 0
    _in_head = True

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > _limits()[1]:
                self._disarm_head_timer()
                self._reply_and_close(431, b"Request Header Fields Too Large")
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm_head_timer()
        super().on_headers_complete()

    def handle_websocket_upgrade(self) -> None:
        request = None
        if self.ws_protocol_class is GuardedWebSocketProtocol:
            request = parsed_request(
                self.scope["method"],
                self.scope["http_version"],
                self.url,
                self.scope["headers"],
            )
        if request is None:
            # uvicorn writes the request out again for websockets to parse, which
            # answers what it refuses (414, 431, 400).
            super().handle_websocket_upgrade()
        else:
            # httptools parsed it already: websockets gets the Request, not the bytes
            # to parse a second time (about 7% of a handshake's CPU).
            self.connections.discard(self)
            protocol = GuardedWebSocketProtocol(
                config=self.config,
                server_state=self.server_state,
                app_state=self.app_state,
            )
            protocol.take_over(self.transport, self.server, self.client, request)
            self.transport.set_protocol(protocol)
        # The WebSocket protocol owns the transport now. The parser holds this protocol's
        # bound callbacks (a reference cycle uvicorn breaks only in connection_lost, which
        # an upgraded protocol never gets): drop it so this object is freed at once.
        self.parser = None  # type: ignore[assignment]

    def _arm_head_timer(self) -> None:
        timeout = _limits()[0]
        if self._head_timer is None and timeout > 0:
            self._head_timer = self.loop.call_later(timeout, self._head_timeout)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            log.info(
                "request head timeout: connection dropped",
                extra={"client": self.client},
            )
            self.transport.abort()

    def _reply_and_close(self, status: int, reason: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                % (status, reason)
            )
            self.transport.close()


_TOKEN = re.compile(rb"[-!#$%&\'*+.^_`|~0-9a-zA-Z]+")  # websockets.http11's own
_VALUE = re.compile(rb"[\x09\x20-\x7e\x80-\xff]*")


def parsed_request(
    method: str, http_version: str, url: bytes, headers: list[tuple[bytes, bytes]]
) -> Request | None:
    """websockets' Request for a handshake httptools parsed; None when websockets' own
    parser could answer it otherwise (not GET over HTTP/1.1, a line or a header count
    past its bounds, a byte it refuses, a body): that one is parsed again, as before."""
    if method != "GET" or http_version != "1.1":
        return None
    # The line websockets would read: "GET " url " HTTP/1.1\r\n".
    if len(url) + 15 > MAX_LINE_LENGTH or len(headers) > MAX_NUM_HEADERS:
        return None
    if not url.isascii():
        return None
    items = []
    for name, raw in headers:
        # httptools drops a value's leading blanks, not its trailing ones; websockets
        # strips both (a trailing blank after a Sec-WebSocket-Key would refuse it).
        value = raw.strip(b" \t")
        if (
            len(name) + len(raw) + 4 > MAX_LINE_LENGTH
            or not _TOKEN.fullmatch(name)
            or not _VALUE.fullmatch(value)
            or name == b"transfer-encoding"
            or (name == b"content-length" and value != b"0")
        ):
            return None
        items.append((name.decode("ascii"), value.decode("latin-1")))
    return Request(url.decode("ascii"), Headers(items))


class Inbox:
    """The receive queue of one socket: asyncio.Queue's put_nowait/get/empty/qsize for a
    single reader, without its three deques (about 2 KB on each idle socket)."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)


class Writable:
    """asyncio.Event's set/clear/is_set/wait, with no deque until somebody waits
    (uvicorn's per-socket flow-control flag; only a paused transport is waited on)."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] = []

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        return True


class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol; a close never waits on a peer that does not read.

    uvicorn arms `close_timer` after a close frame (cancelled, and the connection closed,
    when the peer answers the close); here that timer drops the connection outright when
    bytes are still stuck in the write buffer, since `transport.close()` would wait for a
    buffer that never drains.
    """

    #: bytes the write buffer held past its high-water mark when the transport paused:
    #: the tail of one frame taken whole while the peer was reading (a resume's long
    #: welcome), not a backlog; queued_bytes() leaves it out until writing resumes
    _overshoot = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Leaner stand-ins for uvicorn's per-socket asyncio.Queue and asyncio.Event: the
        # same calls, a fraction of the memory (issue 7's 25 KB per idle socket).
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Writable()  # type: ignore[assignment]
        self.writable.set()

    def take_over(
        self,
        transport: asyncio.Transport,
        server: tuple[str, int | None] | None,
        client: tuple[str, int] | None,
        request: Request,
    ) -> None:
        """connection_made() and data_received() of a handshake the HTTP protocol
        parsed (GuardedHttpProtocol.handle_websocket_upgrade): its addresses and its
        Request, so neither the socket's addresses nor the request are read again."""
        self.connections.add(self)
        self.transport = transport
        self.server, self.client = server, client
        self.scheme = "wss" if is_ssl(transport) else "ws"
        # Where websockets' own parser goes once it has read a request: to frames.
        conn = self.conn
        conn.parser = super(ServerProtocol, conn).parse()
        next(conn.parser)
        self.handle_connect(request)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self.handshake_initiated and self.conn.handshake_exc is not None:
            self._refuse_unparsed_request()

    def _refuse_unparsed_request(self) -> None:
        """Send what websockets answered an unparsable handshake with (414, 431; 400 if
        nothing), and close: uvicorn never flushes it, so the connection would hang."""
        if self.transport.is_closing():
            return
        answer = b"".join(self.conn.data_to_send()) or _BAD_REQUEST
        self.handshake_initiated = self.handshake_complete = self.close_sent = True
        log.info(
            "unparsable websocket handshake refused: %s",
            self.conn.handshake_exc,
            extra={"client": self.client},
        )
        self.transport.write(answer)
        self.transport.close()

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        # The scope has what the app reads of the request (path, query, headers), and
        # nothing reads the websockets Request again; but its parser generator keeps it
        # in a local for the whole connection (about 3 KB of header strings and the
        # token in the path on each idle socket): emptied, and not kept here either.
        self.request = None  # type: ignore[assignment]
        event.headers.clear()
        event.path = ""
        # The scope was just made and its app task not yet run: offer the fast path,
        # and the count of bytes the transport holds (the consumer's backlog bound).
        extensions = self.scope["extensions"]
        extensions[FRAME_WRITER] = self.write_frame
        extensions[QUEUED_BYTES] = self.queued_bytes

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        # The scope holds our bound methods: a cycle through this protocol that would
        # keep the socket's whole state for the cyclic collector. The consumer took its
        # own references at start; write_frame refuses once disconnected.
        scope = getattr(self, "scope", None)
        if scope is not None:
            extensions = scope.get("extensions", {})
            extensions.pop(FRAME_WRITER, None)
            extensions.pop(QUEUED_BYTES, None)

    def pause_writing(self) -> None:
        super().pause_writing()
        high = self.transport.get_write_buffer_limits()[1]
        self._overshoot = max(0, self.transport.get_write_buffer_size() - high)

    def resume_writing(self) -> None:
        self._overshoot = 0
        super().resume_writing()

    def queued_bytes(self) -> int:
        """Bytes written to the transport and not yet taken by the kernel (pongs
        included), less the overshoot of one large frame (see `_overshoot`)."""
        if self.disconnected:
            return 0
        return max(0, self.transport.get_write_buffer_size() - self._overshoot)

    def handle_ping(self) -> None:
        # websockets queued the pong (every pong of the bytes just read, in fact); uvicorn
        # writes them whatever the flow control says, so a peer that pings and never
        # reads would grow the write buffer forever.
        pongs = self.conn.data_to_send()
        if not self.writable.is_set():
            if self.close_sent:
                return  # closing, and the peer reads nothing: dropped
            if self.queued_bytes() + sum(map(len, pongs)) > _limits()[3]:
                self._too_slow()  # these pongs are dropped; the close frame is queued
                return
        self.transport.write(b"".join(pongs))

    def _too_slow(self) -> None:
        from realtime.socket.routes import route_of
        from realtime.web import metrics

        path = getattr(self, "scope", {}).get("path", "")
        metrics.child(metrics.BACKLOG_CLOSED, route_of(path)).inc()
        log.info("pongs unread past the bound: closing 4503")
        self._close_paused(TOO_SLOW, "")

    def write_frame(self, frame: bytes) -> bool:
        """Write an already-encoded server frame now; False when it cannot go this way.

        A room's frame is the same bytes for every member (server frames are not masked
        and per-message compression is off), so the consumer encodes it once per message
        (realtime.socket.frames.wire_frame) and every member's socket writes those bytes;
        uvicorn's send would re-encode the text and rebuild the frame per member. Only an
        open socket whose transport takes writes now qualifies; anything else (closing,
        paused by flow control) returns False and goes through send() as before.
        """
        if (
            self.close_sent
            or self.disconnected
            or not self.handshake_complete
            or self.initial_response is not None
            or not self.writable.is_set()
            or self.conn.state is not State.OPEN
        ):
            return False
        pending = self.conn.data_to_send()  # e.g. a pong websockets queued: keep order
        if pending:
            self.transport.write(b"".join(pending))
        self.transport.write(frame)
        return True

    async def send(self, message: Any) -> None:
        if (
            message["type"] == "websocket.close"
            and self.handshake_complete
            and self.initial_response is None
            and not self.close_sent
            and not self.disconnected
            and not self.writable.is_set()
        ):
            self._close_paused(
                int(message.get("code", 1000)), message.get("reason") or ""
            )
            return
        await super().send(message)
        if self.handshake_complete and self.response is not None:
            # The handshake is answered: its response (about 1 KB of headers) is not
            # sent again, and nobody reads the request's headers after it (the gate
            # read Origin, token and cookie before accept). The list is the one this
            # protocol built for the scope, so it is emptied in place, every copy of
            # the scope with it.
            self.response = None  # type: ignore[assignment]
            self.scope["headers"].clear()
        if self.close_sent and self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = self.loop.call_later(
                self.close_timeout, self._close_or_abort
            )

    def _close_paused(self, code: int, reason: str) -> None:
        """Queue the close frame behind the unread backlog; drop the connection soon after."""
        self.queue.put_nowait(
            {"type": "websocket.disconnect", "code": code, "reason": reason}
        )
        try:
            self.conn.send_close(code, reason)
            self.transport.write(b"".join(self.conn.data_to_send()))
        except Exception:  # the protocol state says the connection is already closing
            log.debug("close frame not queued")
        self.close_sent = True
        if self.close_timer is not None:
            self.close_timer.cancel()
        self.close_timer = self.loop.call_later(_limits()[2], self._close_or_abort)

    def _close_or_abort(self) -> None:
        self.close_timer = None
        if self.transport.get_write_buffer_size():
            self.transport.abort()
        else:
            self.transport.close()
