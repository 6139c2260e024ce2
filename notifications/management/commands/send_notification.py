"""`manage.py send_notification <username>... --title T [--body B] [--level L] [--all-users]`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from notifications import selectors, services
from notifications.models import Notification


class Command(BaseCommand):
    help = "Store a notification for the users named (or every active user) and push it live."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("usernames", nargs="*", metavar="username")
        parser.add_argument("--title", required=True)
        parser.add_argument("--body", default="")
        parser.add_argument(
            "--level", default="info", choices=Notification.Level.values
        )
        parser.add_argument("--link", default="")
        parser.add_argument(
            "--all-users",
            action="store_true",
            help="every active user instead of names",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        names: list[str] = options["usernames"]
        if options["all_users"] == bool(names):
            raise CommandError(
                "Name one or more usernames, or pass --all-users (not both)."
            )
        if options["all_users"]:
            user_ids = selectors.active_user_ids()
        else:
            user_ids, unknown = selectors.users_by_usernames(usernames=names)
            if unknown:
                raise CommandError(f"Unknown usernames: {', '.join(unknown)}")
        try:
            count = services.notifications_create_bulk(
                user_ids=user_ids,
                title=options["title"],
                body=options["body"],
                level=options["level"],
                link=options["link"],
            )
        except ValidationError as exc:
            problems = [
                f"--{field}: {' '.join(messages)}"
                for field, messages in exc.message_dict.items()
            ]
            raise CommandError("; ".join(problems)) from None
        self.stdout.write(f"Sent {count} notification{'s' if count != 1 else ''}.")
