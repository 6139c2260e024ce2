"""The Cython ceiling: a bare picows broadcast server, rooms by URL path.

    python bench/peers/picows_broadcast.py --port 9003

What `ws_broadcast.py` does, on picows: every text (or binary) message a socket sends
goes, unchanged, to every socket of its path (the sender included): no auth, no
storage, no parsing. The payload is taken out of the read buffer once and handed to each
member's `WSTransport.send`, which only prepends the header (a server does not mask).
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from picows import (
    WSAutoPingStrategy,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    ws_create_server,
)

#: path -> the transports of its sockets
rooms: dict[bytes, set[WSTransport]] = {}


class Member(WSListener):
    """One socket: joins its path's room on connect, relays each message to it."""

    __slots__ = ("path", "room", "parts", "parts_type")

    def __init__(self, path: bytes) -> None:
        self.path = path
        self.room: set[WSTransport] = set()
        # A fragmented message, gathered until its last frame: websockets relays whole
        # messages, and relaying fragments as they come would interleave two senders'.
        self.parts: list[bytes] = []
        self.parts_type = WSMsgType.TEXT

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.room = rooms.setdefault(self.path, set())
        self.room.add(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        msg_type = frame.msg_type
        if msg_type is WSMsgType.TEXT or msg_type is WSMsgType.BINARY:
            if frame.fin:
                payload = frame.get_payload_as_bytes()
                for member in self.room:
                    member.send(msg_type, payload)
            else:
                self.parts = [frame.get_payload_as_bytes()]
                self.parts_type = msg_type
        elif msg_type is WSMsgType.CONTINUATION:
            self.parts.append(frame.get_payload_as_bytes())
            if frame.fin:
                payload = b"".join(self.parts)
                self.parts = []
                for member in self.room:
                    member.send(self.parts_type, payload)
        elif msg_type is WSMsgType.CLOSE:
            # picows leaves the close handshake to the listener: echo the code, hang up.
            transport.send_close(frame.get_close_code())
            transport.disconnect()
        # PING is answered by picows (enable_auto_pong); PONG keeps auto-ping content.

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.room.discard(transport)
        if not self.room and rooms.get(self.path) is self.room:
            del rooms[self.path]


def member_for(request: WSUpgradeRequest) -> Member:
    """Every path is a room (the query string is not part of its name)."""
    return Member(request.path.split(b"?", 1)[0])


async def main(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set_result, None)
    # ws_broadcast's settings: 1 MiB frames, a ping every 20 s, the same listen backlog.
    # websockets waits 60 s for the pong; picows refuses a reply timeout longer than the
    # interval (an assertion in each connection's protocol, which then drops every
    # handshake without a word), so 20 s it is.
    server = await ws_create_server(
        member_for,
        host,
        port,
        max_frame_size=2**20,
        enable_auto_ping=True,
        auto_ping_strategy=WSAutoPingStrategy.PING_PERIODICALLY,
        auto_ping_idle_timeout=20,
        auto_ping_reply_timeout=20,
        backlog=4096,
    )
    print(f"picows_broadcast listening on {host}:{port}", flush=True)
    try:
        await stop
    finally:
        server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9003)
    parser.add_argument("--no-uvloop", action="store_true")
    args = parser.parse_args()
    runner = asyncio.run
    if not args.no_uvloop:
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            pass
    runner(main(args.host, args.port))
