"""`manage.py seed_demo`: the demo users, rooms and messages of `make run` (idempotent)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from chat import selectors, services

#: The password of every demo user (documented in the README). Demo data only.
DEMO_PASSWORD = "realtime-demo"

USERS = [  # username, is_staff, is_superuser
    ("admin", True, True),
    ("alice", True, False),
    ("bob", False, False),
    ("carol", False, False),
]
ROOMS = [  # slug, name, private, whitelist besides the owner (admin)
    ("lobby", "Lobby", False, []),
    ("random", "Random", False, []),
    ("staff", "Staff", True, ["alice"]),
]
MESSAGES = [  # room, author, body
    ("lobby", "alice", "Welcome to the lobby!"),
    ("lobby", "bob", "Hi alice, hi everyone."),
    ("lobby", "carol", "Hello! Type a message below to try it."),
    ("random", "bob", "Anything goes in here."),
    ("staff", "alice", "Staff only: this room is private (alice and admin)."),
]


class Command(BaseCommand):
    help = f"Create the demo users (password {DEMO_PASSWORD!r}), rooms and messages; safe to rerun."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Seed even with DJANGO_DEBUG=0 (a superuser with a published password).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            # A production database must never get `admin` / DEMO_PASSWORD by accident.
            raise CommandError(
                "seed_demo creates a superuser with a published password: it runs only "
                "with DJANGO_DEBUG=1 (as `make run` does), or with --force."
            )
        User = get_user_model()
        users = {}
        for username, staff, superuser in USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                make = (
                    User.objects.create_superuser
                    if superuser
                    else User.objects.create_user
                )
                user = make(username=username, password=DEMO_PASSWORD, is_staff=staff)
                role = "superuser" if superuser else "staff" if staff else "user"
                self.stdout.write(f"created {role} {username}")
            else:
                self.stdout.write(f"kept user {username}")
            users[username] = user
        rooms = {}
        for slug, name, private, whitelist in ROOMS:
            room = selectors.room_get(slug=slug)
            if room is None:
                room = services.room_create(
                    slug=slug, name=name, is_private=private, owner=users["admin"]
                )
                self.stdout.write(
                    f"created {'private' if private else 'public'} room {slug}"
                )
            else:
                self.stdout.write(f"kept room {slug}")
            for username in whitelist:
                services.membership_grant(room=room, user=users[username])
            rooms[slug] = room
        made = 0
        for index, (slug, author, body) in enumerate(MESSAGES, start=1):
            # The client_id makes a rerun find the original instead of posting again.
            _message, created = services.message_create(
                room=rooms[slug],
                user=users[author],
                body=body,
                client_id=f"seed-demo-{index}",
            )
            made += created
        self.stdout.write(
            f"messages: {made} created, {len(MESSAGES) - made} already there"
        )
        self.stdout.write(
            f"demo users: {', '.join(u for u, _, _ in USERS)}; password: {DEMO_PASSWORD}"
        )
