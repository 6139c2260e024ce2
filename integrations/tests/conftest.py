"""Fixtures of the integrations tests: chat's users and rooms, API keys, a local receiver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from chat.tests.conftest import (  # noqa: F401 (fixtures)
    alice,
    bob,
    carol,
    lobby,
    make_user,
    published,
    secret,
)
from integrations import selectors, services


@pytest.fixture(autouse=True)
def _subscriptions_forgotten() -> Iterator[None]:
    """No test sees another's webhooks (ids repeat after each flush)."""
    selectors.subscriptions_forget()
    yield
    selectors.subscriptions_forget()


@pytest.fixture
def api_key(db: Any) -> Any:
    """`api_key(*scopes)` -> the key text."""

    def make(*scopes: str) -> str:
        return services.api_key_create(name="backend", scopes=scopes or ["publish"])[1]

    return make


@dataclass
class Request:
    """One POST the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: records each POST, answers from `statuses`.

    `hold` set: every request waits for `release` before it is answered (a slow
    receiver). `open` counts requests being handled now; `peak` the most at once.
    """

    statuses: list[int] = field(default_factory=list)
    hold: bool = False
    requests: list[Request] = field(default_factory=list)
    arrived: asyncio.Queue = field(default_factory=asyncio.Queue)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    open: int = 0
    peak: int = 0
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/in?x=1"

    async def handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.open += 1
        self.peak = max(self.peak, self.open)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            request = Request(path, headers, body)
            self.requests.append(request)
            self.arrived.put_nowait(request)
            if self.hold:
                await self.release.wait()
            status = self.statuses.pop(0) if self.statuses else 200
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open -= 1
            writer.close()

    async def next(self, within: float = 10.0) -> Request:
        return await asyncio.wait_for(self.arrived.get(), within)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A local receiver on this test's loop, stopped after the test."""
    r = Receiver()
    server = await asyncio.start_server(r.handle, "127.0.0.1", 0)
    r.port = server.sockets[0].getsockname()[1]
    yield r
    r.release.set()
    server.close()
