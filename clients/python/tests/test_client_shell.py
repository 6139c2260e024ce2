"""The asyncio shell on a fake socket: what needs a clock but no server.

The fake connector hands out scripted sockets; nothing sleeps for synchronisation: each
test awaits the client's own events, bounded by a deadline.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from realtime_client import ChatClient, Event, FatalCloseError, Options
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close

DEADLINE = 5.0
QUICK = Options(base_delay=0.0, max_delay=0.0, resend_delay=0.0, gap_grace=0.01)


def message(seq: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "id": 100 + seq,
        "seq": seq,
        "room": "r",
        "user": {"id": 1, "username": "me"},
        "body": f"m{seq}",
        "ts": "2026-01-01T00:00:00Z",
        "client_id": None,
        **extra,
    }


def welcome(*seqs: int, heartbeat: float = 25) -> dict[str, Any]:
    return {
        "type": "welcome",
        "room": "r",
        "user": {"id": 1, "username": "me"},
        "heartbeat_interval": heartbeat,
        "history": [message(s) for s in seqs],
        "complete": True,
    }


class FakeSocket:
    """Frames to hand out, an int to close with that code; `sent` records what came in."""

    def __init__(self, *script: dict[str, Any] | int, on_send=None) -> None:
        self.incoming: asyncio.Queue[Any] = asyncio.Queue()
        for item in script:
            self.incoming.put_nowait(item)
        self.sent: list[dict[str, Any]] = []
        self.on_send = on_send
        self.close_code: int | None = None
        self.close_reason = ""

    async def recv(self) -> str:
        item = await self.incoming.get()
        if isinstance(item, int):
            self.close_code = item
            raise ConnectionClosed(Close(item, ""), None)
        return json.dumps(item)

    async def send(self, text: str) -> None:
        frame = json.loads(text)
        self.sent.append(frame)
        if self.on_send is not None:
            self.on_send(self, frame)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self.close_code is None:
            self.close_code = code


class Connector:
    """Scripted sockets, one per dial; OSError (connection refused) once they run out."""

    def __init__(self, *sockets: FakeSocket) -> None:
        self.sockets = list(sockets)
        self.urls: list[str] = []

    async def __call__(self, url: str, **kwargs: Any) -> FakeSocket:
        self.urls.append(url)
        if not self.sockets:
            raise ConnectionRefusedError("refused")
        return self.sockets.pop(0)


async def next_event(client: ChatClient, kind: str) -> Event:
    async with asyncio.timeout(DEADLINE):
        async for event in client:
            if event.type == kind:
                return event
    raise AssertionError(f"closed before a {kind!r} event")


async def test_a_silent_link_is_declared_dead_and_resumed_with_since():
    silent = FakeSocket(welcome(1, 2, 3, heartbeat=0.05))
    fresh = FakeSocket(welcome(4, heartbeat=25))
    connector = Connector(silent, fresh)
    chat = ChatClient("http://x", "r", token="t", options=QUICK, connector=connector)
    async with chat:
        retry = await next_event(chat, "retry")
        assert retry.data["code"] == 4408 and silent.close_code == 4408
        await chat.wait_open()
        assert connector.urls[1].endswith("/ws/chat/r/?since=3")
        assert chat.last_seq == 4


async def test_a_gap_is_held_then_backfilled_and_delivered_in_order():
    sock = FakeSocket(welcome(1, 2), message(5))
    chat = ChatClient(
        "http://x", "r", token="t", options=QUICK, connector=Connector(sock)
    )
    pages: list[int] = []

    async def fetch_page(after: int) -> tuple[list[dict[str, Any]], bool]:
        pages.append(after)
        return [message(3), message(4), message(5)], False

    chat._fetch_page = fetch_page  # type: ignore[method-assign]
    got: list[tuple[int, str | None]] = []
    chat.on("message", lambda e: got.append((e.data["seq"], e.source)))
    async with chat:
        await next_event(chat, "backfill")
    assert pages == [2]  # after the last seq in order
    assert got == [
        (1, "history"),
        (2, "history"),
        (3, "backfill"),
        (4, "backfill"),
        (5, "live"),  # held past the gap, delivered once it filled
    ]


async def test_unavailable_storage_sends_the_message_again_until_it_is_stored():
    def answer(sock: FakeSocket, frame: dict[str, Any]) -> None:
        if frame["type"] != "message":
            return
        tries = sum(f["type"] == "message" for f in sock.sent)
        if tries == 1:
            sock.incoming.put_nowait(
                {"type": "error", "code": "unavailable", "detail": ""}
            )
        else:
            sock.incoming.put_nowait(message(1, client_id=frame["client_id"]))

    sock = FakeSocket(welcome(), on_send=answer)
    chat = ChatClient(
        "http://x", "r", token="t", options=QUICK, connector=Connector(sock)
    )
    async with chat:
        stored = await asyncio.wait_for(chat.send_message("hi"), DEADLINE)
    sends = [f for f in sock.sent if f["type"] == "message"]
    assert len(sends) == 2 and sends[0]["client_id"] == sends[1]["client_id"]
    assert stored["seq"] == 1 and chat.pending == []


async def test_retries_are_bounded_when_asked():
    connector = Connector()
    chat = ChatClient(
        "http://x",
        "r",
        token="t",
        options=Options(base_delay=0.0, max_retries=2),
        connector=connector,
    )
    chat.connect()
    with pytest.raises(FatalCloseError) as stopped:
        await asyncio.wait_for(chat.wait_open(), DEADLINE)
    assert stopped.value.code == "max_retries"
    assert len(connector.urls) == 3  # the first dial and two retries


async def test_a_rate_limit_close_waits_the_long_delay():
    sock = FakeSocket(welcome(), 4429)
    options = Options(base_delay=0.0, rate_limit_delay=42.0)
    chat = ChatClient(
        "http://x", "r", token="t", options=options, connector=Connector(sock)
    )
    async with chat:
        retry = await next_event(chat, "retry")
    assert retry.data["code"] == 4429 and retry.data["delay"] == 42.0
