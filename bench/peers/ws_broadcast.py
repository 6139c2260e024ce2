"""The Python ceiling: a bare `websockets` broadcast server, rooms by URL path.

    python bench/peers/ws_broadcast.py --port 9002

Every text frame a socket sends goes, unchanged, to every socket of its path
(the sender included) through `websockets.broadcast`: no auth, no storage, no parsing.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from websockets.asyncio.server import ServerConnection, broadcast, serve

rooms: dict[str, set[ServerConnection]] = {}


async def handler(ws: ServerConnection) -> None:
    """Join the path's room, relay every frame to it, leave on close."""
    path = ws.request.path.split("?", 1)[0] if ws.request else "/"
    room = rooms.setdefault(path, set())
    room.add(ws)
    try:
        async for message in ws:
            broadcast(room, message)
    finally:
        room.discard(ws)
        if not room:
            rooms.pop(path, None)


async def main(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set_result, None)
    async with serve(
        handler,
        host,
        port,
        compression=None,
        max_size=2**20,
        ping_interval=20,
        ping_timeout=60,
        backlog=4096,
    ):
        print(f"ws_broadcast listening on {host}:{port}", flush=True)
        await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9002)
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
