"""`manage.py create_api_key NAME --scopes publish,notify,disconnect`: a server API key.

The key is printed once, as the last line; only its hash is stored.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations import services
from integrations.models import SCOPES


class Command(BaseCommand):
    help = "Make a server API key; it is printed once, as the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument(
            "--scopes",
            required=True,
            help=f"comma-separated, among {','.join(SCOPES)}",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            row, key = services.api_key_create(
                name=options["name"], scopes=options["scopes"].split(",")
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(
            f"API key {row.name!r} (prefix {row.prefix}, scopes {','.join(row.scopes)}). "
            "Store it now: it is not shown again."
        )
        self.stdout.write(key)
