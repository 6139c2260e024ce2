"""`manage.py bench_notify [--users 10000] [--repeat 3]`: time one bulk send to N users.

Creates the bench users it lacks (`bench-notify-NNNNN`), then times
`notifications_create_bulk` to all of them, split into the writes (inside the
transaction) and the commit plus the push hand-off (on commit: the hub, Redis or the
outbox, whichever this process uses). It deletes its notifications after each run, and
its users (kept for the next run) only with --delete-users.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction

from notifications import services
from notifications.models import Notification
from realtime.fanout.hub import hub
from realtime.registry.models import Outbox
from realtime.registry.process import is_cluster

PREFIX = "bench-notify-"
TITLE = "bench_notify"


class Command(BaseCommand):
    help = "Time one bulk notification to N users (default 10,000) on this database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--users", type=int, default=10_000)
        parser.add_argument("--repeat", type=int, default=3)
        parser.add_argument(
            "--delete-users", action="store_true", help="remove the bench users"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        n, repeat = options["users"], max(1, options["repeat"])
        user_ids = self._users(n)
        push = "hub" if hub.running else "redis" if is_cluster() else "outbox"
        self.stdout.write(
            f"bench_notify: {n} users, database={connection.vendor}, push={push}, runs={repeat}"
        )
        totals: list[float] = []
        for run in range(1, repeat + 1):
            outbox_before = Outbox.objects.count() if push == "outbox" else 0
            started = time.perf_counter()
            with transaction.atomic():
                sent = services.notifications_create_bulk(
                    user_ids=user_ids, title=TITLE, body="x"
                )
                written = time.perf_counter()
            done = time.perf_counter()
            totals.append(done - started)
            pushed = (
                Outbox.objects.count() - outbox_before if push == "outbox" else sent
            )
            self.stdout.write(
                f"  run {run}: {done - started:.2f} s total = {written - started:.2f} s writes"
                f" + {done - written:.2f} s commit and push ({sent} stored, {pushed} pushed)"
            )
            self._cleanup_notifications(push)
        self.stdout.write(
            f"bench_notify: median {statistics.median(totals):.2f} s, best {min(totals):.2f} s"
            f" for {n} users ({n / min(totals):,.0f} notifications/s)"
        )
        if options["delete_users"]:
            get_user_model().objects.filter(username__startswith=PREFIX).delete()

    def _users(self, n: int) -> list[int]:
        User = get_user_model()
        have = set(
            User.objects.filter(username__startswith=PREFIX).values_list(
                "username", flat=True
            )
        )
        missing = [
            f"{PREFIX}{i:05d}" for i in range(n) if f"{PREFIX}{i:05d}" not in have
        ]
        User.objects.bulk_create(
            [User(username=name, password="!") for name in missing], batch_size=500
        )
        names = [f"{PREFIX}{i:05d}" for i in range(n)]
        ids: list[int] = []
        for start in range(0, n, 900):
            ids += User.objects.filter(
                username__in=names[start : start + 900]
            ).values_list("id", flat=True)
        return ids

    @staticmethod
    def _cleanup_notifications(push: str) -> None:
        Notification.objects.filter(title=TITLE).delete()
        if push == "outbox":
            Outbox.objects.filter(payload__kind="notification").delete()
