"""`manage.py broadcast (<slug> | --all) <body> [--as <username>]`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from chat import services
from chat.errors import ChatError
from chat.management.commands._helpers import room_or_error, user_or_error


class Command(BaseCommand):
    help = (
        "Send a system frame to a room's sockets, or to every room with --all. With --as, "
        "post a stored chat message as that user instead (the same service as the socket)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("slug", nargs="?", help="the room (omit with --all)")
        parser.add_argument("body")
        parser.add_argument("--all", action="store_true", help="every room")
        parser.add_argument("--as", dest="as_user", help="post a message as this user")

    def handle(self, *args: Any, **options: Any) -> None:
        slug, everywhere = options["slug"], options["all"]
        if bool(slug) == bool(everywhere):
            raise CommandError("name one room, or give --all")
        try:
            if options["as_user"]:
                if everywhere:
                    raise CommandError("--as posts to one room: name it")
                room, user = room_or_error(slug), user_or_error(options["as_user"])
                message, _ = services.message_create(
                    room=room, user=user, body=options["body"]
                )
                self.stdout.write(f"posted message seq {message.seq} in {room.slug}")
                return
            room = room_or_error(slug) if slug else None
            services.system_broadcast(room=room, body=options["body"])
        except (ValidationError, ChatError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"system message sent to {room.slug if room else 'every room'}"
        )
