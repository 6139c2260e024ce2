"""Conversations across two processes of one cluster (PROTOCOL.md 9, issue 15).

One pair of real servers on PostgreSQL and Redis: activity frames, unread counts and
mentions, and read pointers reach a user's sockets whichever process holds them.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import chat, notify, recv_until, room_create, say, sockets

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]


def of_type(kind: str, **fields: Any) -> Any:
    return lambda f: (
        f.get("type") == kind and all(f.get(k) == v for k, v in fields.items())
    )


def my_room(server: Any, user: Any, slug: str) -> dict[str, Any]:
    status, body = server.api.get("/api/me/rooms/", token=user.access)
    assert status == 200, body
    (entry,) = [e for e in body["results"] if e["slug"] == slug]
    return entry


def test_activity_counts_and_reads_cross_processes(cluster):
    a, b = cluster(2)
    alice, bob = a.api.user("alice"), a.api.user("bob")
    room_create(a, alice, "lobby")
    status, _ = a.api.post("/api/rooms/lobby/join/", token=bob.access)
    assert status == 204
    nb, welcome = notify(b, bob)  # bob belongs: his socket on B follows the room
    ca, _ = chat(a, alice, "lobby")
    with sockets(nb, ca):
        assert [(r["slug"], r["unread"]) for r in welcome["rooms"]] == [("lobby", 0)]
        say(ca, "hello @bob", "c-1")
        activity = recv_until(nb, of_type("activity", room="lobby"))
        assert (activity["seq"], activity["preview"]) == (1, "hello @bob")
        assert activity["user"]["username"] == "alice"
        for server in (a, b):
            entry = my_room(server, bob, "lobby")
            assert (entry["unread"], entry["mentions"]) == (1, 1)
        # bob reads on A: his notify socket on B hears it
        cb, _ = chat(a, bob, "lobby")
        with sockets(cb):
            cb.send('{"type":"read","seq":1}')
            read = recv_until(nb, of_type("read", room="lobby"))
            assert (read["seq"], read["unread"]) == (1, 0)
        for server in (a, b):
            entry = my_room(server, bob, "lobby")
            assert (entry["unread"], entry["mentions"]) == (0, 0)
        # A room bob joins on A after his socket on B opened: the order to follow it
        # crosses too (the group join on B takes a round trip: posts until one is seen).
        room_create(a, alice, "news")
        status, _ = a.api.post("/api/rooms/news/join/", token=bob.access)
        assert status == 204
        for k in range(20):
            status, _ = a.api.post(
                "/api/rooms/news/messages/", {"body": f"news {k}"}, token=alice.access
            )
            assert status == 201
            try:
                got = recv_until(nb, of_type("activity", room="news"), timeout=0.5)
            except AssertionError:
                continue
            assert got["preview"].startswith("news ")
            break
        else:
            raise AssertionError("no activity of a room joined after the socket opened")
