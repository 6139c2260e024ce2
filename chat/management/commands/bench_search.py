"""`manage.py bench_search [--messages 1000000] [--runs 30] [--quick]`.

Seeds `--messages` messages of mixed languages over public, private (the user's and
others') and direct rooms, times typical searches of one user through the views
(`GET /api/search/?q=`, one `GET /api/rooms/<slug>/search/?q=`), prints p50/p95 of each
and of all, and rolls everything back: the database is left as it was. `--quick` is a
smoke run (2,000 messages, 3 runs).

Rows go in with bulk inserts (the index triggers or the GIN index still do their work
row by row, as in production). On PostgreSQL the GIN pending list is flushed and the
table analyzed before timing, as autovacuum would have done on a live database.
"""

from __future__ import annotations

import json
import random
import statistics
import time
import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from rest_framework.test import APIRequestFactory, force_authenticate

from chat.api.search import RoomSearchView, SearchView
from chat.models import Membership, Message, Room

#: words of the seeded bodies: common and rare, accented, several languages
WORDS = (
    "the a to and is in it you of for on that this with we are be at have not "
    "meeting tomorrow deploy release bug fix review merge lunch coffee café "
    "bonjour merci très déjà réunion demain ça été "
    "hallo danke schön grüße zürich straße müde "
    "hola gracias mañana señor niño "
    "ciao grazie perché così "
    "привет спасибо завтра "
    "zanzibar quokka xylophone"
).split()
#: what people type: whole words, prefixes, accents left out, two words, a rare word
QUERIES = ("cafe", "caf", "demain", "reunion", "zurich", "meeting tomorrow", "quokka")


class _Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Time message search for one user over many messages (rolled back after)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--messages", type=int, default=1_000_000)
        parser.add_argument("--runs", type=int, default=30)
        parser.add_argument(
            "--quick", action="store_true", help="a smoke run: 2,000 messages, 3 runs"
        )
        parser.add_argument(
            "--json",
            metavar="PATH",
            help="also append the figures as one JSON line (bench/run_all.py reads it)",
        )
        parser.add_argument("--label", default="", help="--json: the record's label")

    def handle(self, *args: Any, **options: Any) -> None:
        messages, runs = options["messages"], options["runs"]
        if options["quick"]:
            messages, runs = 2_000, 3
        try:
            with transaction.atomic():
                record = self._run(messages, runs)
                raise _Rollback
        except _Rollback:
            pass
        if options["json"]:
            record["label"] = options["label"]
            with open(options["json"], "a") as out:
                out.write(json.dumps(record) + "\n")

    def _run(self, n_messages: int, runs: int) -> dict[str, Any]:
        rng = random.Random(16)
        tag = uuid.uuid4().hex[:8]
        users = get_user_model().objects
        me = users.create_user(username=f"bench-me-{tag}")
        others = [users.create_user(username=f"bench-{i}-{tag}") for i in range(9)]
        # 100 rooms: 60 public, 20 private with me, 10 private without, 10 direct.
        rooms = Room.objects.bulk_create(
            [
                Room(
                    slug=f"bench-{tag}-{i}",
                    name=f"Bench {i}",
                    is_private=i >= 60,
                    kind=(
                        Room.Kind.PUBLIC
                        if i < 60
                        else Room.Kind.DIRECT
                        if i >= 90
                        else Room.Kind.PRIVATE
                    ),
                )
                for i in range(100)
            ]
        )
        Membership.objects.bulk_create(
            [Membership(room=r, user=me) for r in rooms[60:80] + rooms[90:95]]
            + [Membership(room=r, user=others[0]) for r in rooms[60:]]
        )
        started = time.perf_counter()
        seqs = [0] * len(rooms)
        batch: list[Message] = []
        for n in range(n_messages):
            i = n % len(rooms)
            seqs[i] += 1
            body = " ".join(rng.choices(WORDS[:-3], k=rng.randint(3, 15)))
            if n % 1000 == 1:  # the rare words: one message in a thousand
                body += f" {WORDS[-1 - n // 1000 % 3]}"
            deleted = n % 97 == 0  # tombstones, as the services leave them
            batch.append(
                Message(
                    room=rooms[i],
                    user=others[n % len(others)],
                    seq=seqs[i],
                    body="" if deleted else body,
                    deleted=deleted,
                )
            )
            if len(batch) == 5000:
                Message.objects.bulk_create(batch)
                batch.clear()
        Message.objects.bulk_create(batch)
        for room, seq in zip(rooms, seqs, strict=True):
            Room.objects.filter(pk=room.pk).update(last_seq=seq)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT gin_clean_pending_list('chat_message_search')")
                cursor.execute("ANALYZE chat_message")
        seeded = time.perf_counter() - started
        factory = APIRequestFactory()
        cases = [("/api/search/", q, SearchView.as_view(), {}) for q in QUERIES]
        cases.append(
            (
                f"/api/rooms/{rooms[0].slug}/search/",
                "cafe",
                RoomSearchView.as_view(),
                {"slug": rooms[0].slug},
            )
        )
        every: list[float] = []
        lines = []
        per_query: dict[str, dict[str, float]] = {}
        for path, q, view, kwargs in cases:
            timings = []
            for _ in range(runs + 2):
                request = factory.get(path, {"q": q})
                force_authenticate(request, user=me)
                t0 = time.perf_counter()
                response = view(request, **kwargs)
                response.render()
                timings.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200, response.content
            timings = sorted(timings[2:])  # the first ones warm caches
            every.extend(timings)
            per_query[f"{'room' if kwargs else 'all'}:{q}"] = {
                "p50_ms": round(statistics.median(timings), 2),
                "p95_ms": round(p95(timings), 2),
            }
            lines.append(
                f"  {path.replace(rooms[0].slug, '<slug>')}?q={q}: "
                f"p50 {statistics.median(timings):.1f} ms, p95 {p95(timings):.1f} ms"
            )
        every.sort()
        self.stdout.write(
            f"{connection.vendor}: {n_messages} messages in 100 rooms (seeded in "
            f"{seeded:.1f} s); {len(cases)} searches x {runs} runs: "
            f"p50 {statistics.median(every):.1f} ms, p95 {p95(every):.1f} ms, "
            f"max {every[-1]:.1f} ms"
        )
        for line in lines:
            self.stdout.write(line)
        return {
            "kind": "search",
            "scenario": "search",
            "target": "project",
            "vendor": connection.vendor,
            "messages": n_messages,
            "runs": runs,
            "seeded_s": round(seeded, 1),
            "p50_ms": round(statistics.median(every), 2),
            "p95_ms": round(p95(every), 2),
            "max_ms": round(every[-1], 2),
            "queries": per_query,
        }


def p95(sorted_ms: list[float]) -> float:
    """The 95th percentile of sorted timings (nearest rank)."""
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * 0.95))]
