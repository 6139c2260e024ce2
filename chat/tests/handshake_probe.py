"""The handshake batch's reads answer what reads of their own answer, on both databases.

A reconnect storm's batch brings handshakes to many rooms, each with its own `since`;
the door reads for all of them at once (selectors.rooms_access, room_revs,
rooms_history, online_summaries). This probe seeds rooms (public, private, a room of
more than one `since` page, an empty one), whitelist rows and live sockets, then
compares each batched answer with a read of its own (the one-socket selector, or the
ORM for revs and who is online), pair by pair. Imported by the SQLite test and run as a
subprocess against PostgreSQL, where it prints one JSON line:

    DATABASE_URL=postgres://... python chat/tests/handshake_probe.py
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any


def run() -> dict[str, Any]:
    """Seed, read both ways, and report every pair that differs (none, when right)."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from chat import selectors, services
    from chat.models import Message, Room
    from chat.topics import ROUTE
    from realtime.registry import services as registry

    tag = uuid.uuid4().hex[:8]
    users = [
        get_user_model().objects.create_user(username=f"{name}-{tag}")
        for name in ("alice", "bob", "carol", "dave")
    ]
    alice, bob, carol, dave = users
    big = services.room_create(slug=f"big-{tag}", name="Big", owner=alice)
    small = services.room_create(slug=f"small-{tag}", name="Small", owner=alice)
    empty = services.room_create(slug=f"empty-{tag}", name="Empty", owner=alice)
    secret = services.room_create(
        slug=f"secret-{tag}", name="Secret", is_private=True, owner=alice
    )
    services.membership_grant(room=secret, user=bob)
    # 620 in `big`: a page after seq 10 (500) stops short of the present.
    for room, count in ((big, 620), (small, 30), (secret, 5)):
        Message.objects.bulk_create(
            Message(room=room, user=users[seq % 4], seq=seq, body=f"m{seq}")
            for seq in range(1, count + 1)
        )
        Room.objects.filter(pk=room.pk).update(last_seq=count)
    with transaction.atomic():
        registry.connections_open(
            openings=[
                registry.Opening(f"c{i}-{tag}", user.pk, ROUTE, room.slug)
                for i, (user, room) in enumerate(
                    [
                        (alice, big),
                        (bob, big),
                        (bob, big),
                        (carol, small),
                        (bob, secret),
                    ]
                )
            ],
            process_id=f"probe-{tag}",
            max_per_user=10,
            lease_seconds=60,
        )

    slugs = [big.slug, small.slug, empty.slug, secret.slug, f"gone-{tag}"]
    requests = [(slug, user.pk) for slug in slugs for user in users]
    batched = selectors.rooms_access(requests=requests)
    access = {
        f"{slug} {user_id}": [
            _access(batched[slug, user_id]),
            _access(
                selectors.room_access(
                    slug=slug, user=get_user_model().objects.get(pk=user_id)
                )
            ),
        ]
        for slug, user_id in requests
    }
    rooms = [big, small, empty, secret]
    sinces = [None, 0, 10, 150, 600, 615, 620, 700]
    wants = [(room, since) for room in rooms for since in sinces]
    histories = selectors.rooms_history(wants=wants)
    history = {
        f"{room.slug} {since}": [
            _history(histories[room.pk, since]),
            _history(selectors.room_history(room=room, since=since)),
        ]
        for room, since in wants
    }
    # One room alone, one since alone: the batch of one a quiet server sees.
    alone = selectors.rooms_history(wants=[(big, 615)])
    history["alone"] = [
        _history(alone[big.pk, 615]),
        _history(selectors.room_history(room=big, since=615)),
    ]
    revs = selectors.room_revs(room_ids=[r.pk for r in rooms])
    online_many = selectors.online_summaries(room_slugs=[r.slug for r in rooms])
    online_one = selectors.online_summaries(room_slugs=[big.slug], limit=1)

    def online_by_orm(slug: str, limit: int = 100) -> list[Any]:
        """The same answer read through the ORM's own query (online_users)."""
        users = selectors.online_users(room_slug=slug)
        return [
            [{"id": u.pk, "username": u.username} for u in users[:limit]],
            len(users),
        ]

    online = {
        room.slug: [list(online_many.get(room.slug, ([], 0))), online_by_orm(room.slug)]
        for room in rooms
    }
    online["limit 1"] = [list(online_one[big.slug]), online_by_orm(big.slug, 1)]
    return {
        "vendor": connection.vendor,
        "access": access,
        "history": history,
        "revs": [
            [revs.get(r.pk, 0), Room.objects.values_list("rev", flat=True).get(pk=r.pk)]
            for r in rooms
        ],
        "online": online,
        "big_since_10_complete": histories[big.pk, 10][1],
        "online_big_count": online_many[big.slug][1],
    }


def _access(found: Any) -> list[Any]:
    return [found.room.pk if found.room is not None else None, found.allowed]


def _history(found: tuple[list[dict[str, Any]], bool]) -> list[Any]:
    frames, complete = found
    return [[f["seq"] for f in frames], complete, frames[:1]]


def check(result: dict[str, Any]) -> None:
    """Each batched read equals its own read; the seed reached the cases meant."""
    for part in ("access", "history", "online"):
        differ = {k: v for k, v in result[part].items() if v[0] != v[1]}
        assert not differ, (part, differ)
    assert all(batched == one for batched, one in result["revs"])
    assert result["big_since_10_complete"] is False  # the page of 500 stops short
    assert result["online_big_count"] == 2  # alice and bob (twice): distinct users
    secret = [v[0][1] for k, v in result["access"].items() if k.startswith("secret")]
    # bob is on the whitelist, carol and dave are not
    assert secret[1:] == [True, False, False]


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realtime.settings")
    import django

    django.setup()
    print(json.dumps(run(), default=str))
