"""Everything the bench knows about the project's models, in one small module.

Users, rooms and tokens for the `project` target, and the read-outs the reports need
(presence rows left, who the registry says is online in each room, whether a stopped
process's rows are still there, a room's last `seq`). If the models change, adapt this file
only: the load generator calls nothing else of the app.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
USER_PREFIX = "bench_"
TOKEN_LIFETIME = timedelta(hours=6)  # longer than any bench run: no 4401 mid-run


def setup_django() -> None:
    """Configure Django (realtime.settings by default) unless it already is."""
    from django.conf import settings

    if settings.configured:
        return
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realtime.settings")
    import django

    django.setup()


def username(i: int) -> str:
    """The bench user number i."""
    return f"{USER_PREFIX}{i:05d}"


def ensure_fixtures(
    *, n_users: int, room_slugs: list[str], joined: bool = False
) -> list[str]:
    """Create (idempotently) n_users users and the public rooms; return one token each.

    Token i belongs to user i, so the caller can give every socket its own user.
    `joined`: every user also belongs to every room (a Joined row), so each message
    sets off an `activity` frame per user (the fanout_activity scenario).
    """
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from rest_framework_simplejwt.tokens import AccessToken

    from chat.models import Room

    User = get_user_model()
    names = [username(i) for i in range(n_users)]
    existing = set(
        User.objects.filter(username__in=names).values_list("username", flat=True)
    )
    missing = [n for n in names if n not in existing]
    if missing:
        password = make_password("bench-password")  # hashed once, shared: speed
        User.objects.bulk_create(
            [User(username=n, password=password) for n in missing],
            batch_size=1000,
            ignore_conflicts=True,
        )
    users = {u.username: u for u in User.objects.filter(username__in=names)}
    owner = users[names[0]]
    have = set(Room.objects.filter(slug__in=room_slugs).values_list("slug", flat=True))
    Room.objects.bulk_create(
        [
            Room(slug=s, name=s, is_private=False, owner=owner)
            for s in room_slugs
            if s not in have
        ],
        batch_size=1000,
        ignore_conflicts=True,
    )
    if joined:
        from chat.models import Joined

        rooms = list(Room.objects.filter(slug__in=room_slugs))
        Joined.objects.bulk_create(
            [Joined(room=r, user=users[n]) for r in rooms for n in names],
            batch_size=1000,
            ignore_conflicts=True,
        )
    tokens = []
    for n in names:
        token = AccessToken.for_user(users[n])
        token.set_exp(lifetime=TOKEN_LIFETIME)
        tokens.append(str(token))
    return tokens


def user_ids(n_users: int) -> list[int]:
    """The ids of bench users 0..n_users-1, in order (notify paths name the id)."""
    from django.contrib.auth import get_user_model

    names = [username(i) for i in range(n_users)]
    found = dict(
        get_user_model()
        .objects.filter(username__in=names)
        .values_list("username", "pk")
    )
    return [found[n] for n in names]


def presence_counts() -> dict[str, int]:
    """Rows in each presence table there is: live sockets and announced users."""
    from django.apps import apps

    out: dict[str, int] = {}
    for label in ("chat.Presence", "ws.Connection", "chat.AnnouncedPresence"):
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        try:
            out[label] = model.objects.count()
        except Exception:  # a missing table is a report line, not a crash  # noqa: BLE001
            continue
    return out


def presence_rows() -> int | None:
    """Presence rows left in all presence tables; None when there is no such table."""
    counts = presence_counts()
    return sum(counts.values()) if counts else None


def lease_seconds() -> float:
    """The registry lease of the servers (the bench runs with their env)."""
    from django.conf import settings

    return float(settings.WS_PROCESS_LEASE_SECONDS)


def process_rows(pid: int) -> int:
    """Registry rows (the process and its sockets) of the serving process with this pid.

    One machine runs the bench and its servers, so the pid alone names the process.
    """
    from realtime.registry.models import Connection, ServerProcess

    return (
        ServerProcess.objects.filter(pid=pid).count()
        + Connection.objects.filter(process__pid=pid).count()
    )


def online_usernames(slugs: list[str]) -> dict[str, list[str]]:
    """Per room slug, the user of each registry row (chat presence's source): a user
    with two sockets there is named twice."""
    from chat.topics import ROUTE
    from realtime.registry.models import Connection

    rows = Connection.objects.filter(route=ROUTE, room_key__in=slugs).values_list(
        "room_key", "user__username"
    )
    out: dict[str, list[str]] = {s: [] for s in slugs}
    for slug, name in rows:
        out[slug].append(name)
    return out


def announced_usernames(slugs: list[str]) -> dict[str, list[str]]:
    """Per room slug, the users its sockets were last told are online (the presence
    frames' state, chat.AnnouncedPresence: one row a user)."""
    from chat.models import AnnouncedPresence

    rows = AnnouncedPresence.objects.filter(room__slug__in=slugs).values_list(
        "room__slug", "user__username"
    )
    out: dict[str, list[str]] = {s: [] for s in slugs}
    for slug, name in rows:
        out[slug].append(name)
    return out


def room_last_seq(slugs: list[str]) -> dict[str, int] | None:
    """The highest `seq` given per room (0 when none); None if it cannot be read."""
    from django.db.models import Max

    from chat.models import Room

    try:
        if hasattr(Room, "last_seq"):
            found = dict(
                Room.objects.filter(slug__in=slugs).values_list("slug", "last_seq")
            )
        else:
            from chat.models import Message

            rows = (
                Message.objects.filter(room__slug__in=slugs)
                .values("room__slug")
                .annotate(last=Max("seq"))
            )
            found = {r["room__slug"]: r["last"] or 0 for r in rows}
    except Exception:  # counting falls back to the body counter  # noqa: BLE001
        return None
    return {s: found.get(s, 0) for s in slugs}
