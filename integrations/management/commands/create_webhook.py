"""`manage.py create_webhook URL --events E,...`: a webhook; its secret is the last line."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations import services
from integrations.models import EVENTS


class Command(BaseCommand):
    help = "Make a webhook; its signing secret is printed once, as the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("url")
        parser.add_argument(
            "--events", required=True, help=f"comma-separated, among {','.join(EVENTS)}"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            row, secret = services.webhook_create(
                url=options["url"], events=options["events"].split(",")
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(
            f"Webhook {row.pk} -> {row.url} ({','.join(row.events)}). Its signing "
            "secret follows: store it now, it is not shown again."
        )
        self.stdout.write(secret)
