"""`manage.py createroom <slug> [--name] [--private] [--owner]`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from chat import services
from chat.management.commands._helpers import user_or_error


class Command(BaseCommand):
    help = "Create a chat room (the owner, if given, is put on its whitelist)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("slug")
        parser.add_argument(
            "--name", default="", help="display name (default: the slug)"
        )
        parser.add_argument("--private", action="store_true", help="whitelist only")
        parser.add_argument("--owner", help="username of the owner")

    def handle(self, *args: Any, **options: Any) -> None:
        owner = user_or_error(options["owner"]) if options["owner"] else None
        try:
            room = services.room_create(
                slug=options["slug"],
                name=options["name"],
                is_private=options["private"],
                owner=owner,
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        kind = "private" if room.is_private else "public"
        self.stdout.write(f"created {kind} room {room.slug} ({room.name})")
