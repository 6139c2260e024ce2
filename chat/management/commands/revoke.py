"""`manage.py revoke <slug> <username>...`: take users off a whitelist, closing their sockets."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from chat import services
from chat.management.commands._helpers import room_or_error, user_or_error


class Command(BaseCommand):
    help = "Take users off a room's whitelist; their sockets in it close with 4403."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("slug")
        parser.add_argument("usernames", nargs="+")

    def handle(self, *args: Any, **options: Any) -> None:
        room = room_or_error(options["slug"])
        users = [user_or_error(name) for name in options["usernames"]]
        for user in users:
            try:
                removed = services.membership_revoke(room=room, user=user)
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from None
            state = "revoked" if removed else "was not on"
            self.stdout.write(
                f"{state}: {user.username} in {room.slug} (sockets closed)"
            )
