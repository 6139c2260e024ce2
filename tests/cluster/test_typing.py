"""Typing crosses processes: two real servers on one PostgreSQL and one Redis."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support import chat, is_message, recv_until, room_create, say, sockets

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]


def is_typing(frame: dict[str, Any]) -> bool:
    return frame.get("type") == "typing"


def test_a_typist_on_one_process_is_listed_on_the_other_until_their_message(cluster):
    a, b = cluster(2)
    alice, bob = a.api.user("alice"), a.api.user("bob")
    room_create(a, alice, "lobby")
    (ca, _), (cb, _) = chat(a, alice, "lobby"), chat(b, bob, "lobby")
    with sockets(ca, cb):
        ca.send(json.dumps({"type": "typing"}))
        assert recv_until(cb, is_typing)["users"] == [alice.frame()]
        say(ca, "sent it", "c-1")
        recv_until(cb, is_message("sent it"))
        assert recv_until(cb, is_typing)["users"] == []
