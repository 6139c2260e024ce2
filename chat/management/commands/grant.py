"""`manage.py grant <slug> <username>...`: put users on a room's whitelist."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from chat import services
from chat.management.commands._helpers import room_or_error, user_or_error


class Command(BaseCommand):
    help = "Put users on a room's whitelist."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("slug")
        parser.add_argument("usernames", nargs="+")

    def handle(self, *args: Any, **options: Any) -> None:
        room = room_or_error(options["slug"])
        users = [user_or_error(name) for name in options["usernames"]]
        for user in users:
            _membership, created = services.membership_grant(room=room, user=user)
            state = "granted" if created else "already on"
            self.stdout.write(f"{state}: {user.username} in {room.slug}")
