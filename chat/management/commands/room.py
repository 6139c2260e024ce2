"""`manage.py room (archive | unarchive | topic | rename) <slug> [...]`: a room's settings."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from chat import services
from chat.errors import ChatError
from chat.management.commands._helpers import room_or_error


class Command(BaseCommand):
    help = (
        "Change a room's settings as its owner would (the same service: its sockets get "
        "a room frame). archive: read-only, nobody can post; unarchive: posting again; "
        'topic <text> ("" clears it); rename <name>.'
    )

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="what", required=True)
        for name, text in [
            ("archive", "make the room read-only (its history stays)"),
            ("unarchive", "let everyone who may read it post again"),
        ]:
            sub.add_parser(name, help=text).add_argument("slug")
        topic = sub.add_parser("topic", help="set the topic (at most 250 characters)")
        topic.add_argument("slug")
        topic.add_argument("topic")
        rename = sub.add_parser("rename", help="set the display name (not the slug)")
        rename.add_argument("slug")
        rename.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        what = options["what"]
        room = room_or_error(options["slug"])
        change: dict[str, Any] = {
            "archive": {"archived": True},
            "unarchive": {"archived": False},
            "topic": {"topic": options.get("topic")},
            "rename": {"name": options.get("name")},
        }[what]
        try:
            room = services.room_update(room=room, **change)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        except ChatError as exc:
            raise CommandError(str(exc)) from None
        state = (
            f"archived since {room.archived:%Y-%m-%d %H:%M} UTC"
            if room.archived
            else "open"
        )
        self.stdout.write(f"{room.slug} ({room.name}): {state}; topic: {room.topic!r}")
