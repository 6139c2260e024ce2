"""Changes (edits, deletes, reactions) on the Python client: rev kept, resumed, gaps filled.

The pure half (Revisions) alone, then the shell on scripted sockets (test_client_shell's
fakes): what reaches the application as `message_updated` and what the next handshake asks.
"""

from __future__ import annotations

import asyncio
from typing import Any

from realtime_client import ChatClient
from realtime_client.revisions import Revisions
from test_client_shell import (
    QUICK,
    Connector,
    FakeSocket,
    message,
    next_event,
    welcome,
)


def updated(seq: int, rev: int, **extra: Any) -> dict[str, Any]:
    return {"type": "message_updated", "message": message(seq, rev=rev, **extra)}


def test_revisions_advance_only_while_gapless():
    revs = Revisions()
    revs.welcome(3)
    revs.live(4)
    assert (revs.rev, revs.gap) == (4, False)
    revs.live(6)
    assert (revs.rev, revs.gap) == (4, True)
    revs.live(5)
    assert (revs.rev, revs.gap) == (6, False)
    revs.live(2)  # an old one, already counted
    assert revs.rev == 6


def test_revisions_after_a_fetch_keep_only_what_lies_past_it():
    revs = Revisions(10)
    revs.live(13)
    revs.live(15)
    revs.fetched(13)  # REST held the room up to rev 13
    assert (revs.rev, revs.gap) == (13, True)  # 14 still missing, 15 applied
    revs.fetched(15)
    assert (revs.rev, revs.gap) == (15, False)


def test_revisions_ignore_what_is_not_an_int():
    revs = Revisions()
    revs.welcome(None)
    revs.live(True)
    revs.live("7")
    assert revs.rev is None


async def test_welcome_changes_reach_the_application_and_resume_asks_for_rev():
    first = FakeSocket(
        {**welcome(1, 2), "rev": 4, "changes": []},
        updated(1, 5, body="fixed"),
        4408,
    )
    second = FakeSocket({**welcome(), "rev": 6, "changes": [message(2, rev=6)]})
    connector = Connector(first, second)
    chat = ChatClient("http://x", "r", token="t", options=QUICK, connector=connector)
    async with chat:
        live = await next_event(chat, "message_updated")
        assert (live.data["seq"], live.data["body"], live.source) == (
            1,
            "fixed",
            "live",
        )
        change = await next_event(chat, "message_updated")
        assert (change.data["seq"], change.source) == (2, "changes")
        assert connector.urls[1].endswith("/ws/chat/r/?since=2&rev=5")
        assert chat.rev == 6


async def test_a_missing_rev_is_paged_from_changes_after_the_grace():
    sock = FakeSocket({**welcome(1, 2, 3), "rev": 1, "changes": []}, updated(3, 3))
    chat = ChatClient(
        "http://x", "r", token="t", options=QUICK, connector=Connector(sock)
    )
    asked: list[str] = []

    async def fetch(tail: str) -> tuple[list[dict[str, Any]], bool]:
        asked.append(tail)
        return [message(2, rev=2, deleted=True, body=""), message(3, rev=3)], False

    chat._fetch = fetch  # type: ignore[method-assign]
    async with chat:
        await next_event(chat, "message_updated")  # rev 3, live, past the gap
        fetched = await next_event(chat, "message_updated")
        assert (fetched.data["seq"], fetched.source) == (2, "backfill")
        done = await next_event(chat, "backfill")
        assert done.data["ok"] and done.data["count"] == 2
        assert asked[0].startswith("changes/?rev=1&")
        assert chat.rev == 3


async def test_an_incomplete_welcome_pages_the_changes_it_could_not_hold():
    sock = FakeSocket(
        {**welcome(), "rev": 900, "changes": [message(1, rev=899)], "complete": False}
    )
    chat = ChatClient(
        "http://x",
        "r",
        token="t",
        options=QUICK,
        connector=Connector(sock),
        since=5,
        rev=3,
    )
    asked: list[str] = []
    paged = asyncio.Event()

    async def fetch(tail: str) -> tuple[list[dict[str, Any]], bool]:
        asked.append(tail)
        if tail.startswith("changes/?rev=3&"):
            paged.set()
        return [], False

    chat._fetch = fetch  # type: ignore[method-assign]
    async with chat:
        await chat.wait_open()
        async with asyncio.timeout(5):
            await paged.wait()
