"""`manage.py message (show | delete) <slug> <seq>`: one message, for an operator.

`show` prints it as it is now and its earlier bodies; `delete` makes it a tombstone
through the same service as its author, the room's owner, staff and the admin (its
room's sockets get `message_updated`; a mention's notification is taken back).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from chat import selectors, services
from chat.management.commands._helpers import room_or_error
from chat.models import Message


class Command(BaseCommand):
    help = (
        "One message of a room, by its seq: show it with its earlier versions, or "
        "delete it (a tombstone, as a moderator would)."
    )

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="what", required=True)
        for name, text in [
            ("show", "print the message as it is now and its earlier bodies"),
            ("delete", "make it a tombstone (same id and seq, no body, no reactions)"),
        ]:
            command = sub.add_parser(name, help=text)
            command.add_argument("slug")
            command.add_argument("seq", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        room = room_or_error(options["slug"])
        message = Message.objects.filter(room=room, seq=options["seq"]).first()
        if message is None:
            raise CommandError(f"no message #{options['seq']} in {room.slug}")
        if options["what"] == "delete":
            frame = services.message_delete(message=message)  # trusted: no `by`
        else:
            frame = selectors.message_state(room=room, message_id=message.pk)
            assert frame is not None
        flags = ", ".join(
            f
            for f, on in (("deleted", frame["deleted"]), ("edited", frame["edited"]))
            if on
        )
        self.stdout.write(
            f"{room.slug}#{frame['seq']} (id {frame['id']}, rev {frame['rev']}"
            f"{', ' + flags if flags else ''}) {frame['user']['username']}: "
            f"{frame['body']!r}"
        )
        if options["what"] == "show":
            versions, more = selectors.message_versions(message=message)
            if more:
                self.stdout.write("  (older versions left out)")
            for version in versions:
                self.stdout.write(f"  was {version['body']!r} ({version['ts']})")
