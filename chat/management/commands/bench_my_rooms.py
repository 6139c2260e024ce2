"""`manage.py bench_my_rooms [--rooms 200] [--messages 100000] [--runs 50]`.

Seeds a user who belongs to `--rooms` rooms holding `--messages` messages (others' posts,
part read, some deleted, some mentioning the user), times `GET /api/me/rooms/?limit=200`
through the view, prints p50/p95/max, and rolls everything back: the database is left
as it was.
"""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from rest_framework.test import APIRequestFactory, force_authenticate

from chat.api.conversations import MyRoomsView
from chat.models import DeletedSeq, Joined, Mention, Message, ReadPointer, Room


class _Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Time GET /api/me/rooms/ for a user in many busy rooms (rolled back after)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--rooms", type=int, default=200)
        parser.add_argument("--messages", type=int, default=100_000)
        parser.add_argument("--runs", type=int, default=50)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with transaction.atomic():
                self._run(options["rooms"], options["messages"], options["runs"])
                raise _Rollback
        except _Rollback:
            pass

    def _run(self, n_rooms: int, n_messages: int, runs: int) -> None:
        tag = uuid.uuid4().hex[:8]
        user_model = get_user_model()
        me = user_model.objects.create_user(username=f"bench-me-{tag}")
        others = [
            user_model.objects.create_user(username=f"bench-{i}-{tag}")
            for i in range(5)
        ]
        per_room = max(n_messages // n_rooms, 1)
        rooms = Room.objects.bulk_create(
            [
                Room(slug=f"bench-{tag}-{i}", name=f"Bench {i}", last_seq=per_room)
                for i in range(n_rooms)
            ]
        )
        started = time.perf_counter()
        for room in rooms:
            Message.objects.bulk_create(
                [
                    Message(
                        room=room,
                        user=others[seq % len(others)],
                        seq=seq,
                        body=f"message {seq} @{me.username}" if seq % 50 == 0 else "x",
                    )
                    for seq in range(1, per_room + 1)
                ],
                batch_size=1000,
            )
        Joined.objects.bulk_create([Joined(room=r, user=me) for r in rooms])
        # Half the rooms read halfway, the rest never opened.
        ReadPointer.objects.bulk_create(
            [
                ReadPointer(room=r, user=me, seq=per_room // 2 if i % 2 else 0)
                for i, r in enumerate(rooms)
            ]
        )
        mentioned = Message.objects.filter(
            room__in=rooms, body__contains=f"@{me.username}"
        ).values_list("pk", "room_id", "seq")
        Mention.objects.bulk_create(
            [Mention(message_id=m, room_id=r, seq=s, user=me) for m, r, s in mentioned],
            batch_size=1000,
        )
        for room in rooms[::10]:  # some deletions
            DeletedSeq.objects.bulk_create(
                [
                    DeletedSeq(room=room, seq=s)
                    for s in range(max(per_room - 20, 1), per_room)
                ]
            )
        seeded = time.perf_counter() - started
        view = MyRoomsView.as_view()
        factory = APIRequestFactory()
        timings = []
        for _ in range(runs + 3):
            request = factory.get("/api/me/rooms/", {"limit": "200"})
            force_authenticate(request, user=me)
            t0 = time.perf_counter()
            response = view(request)
            response.render()
            timings.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, response.content
        timings = sorted(timings[3:])  # the first few warm caches
        p95 = timings[min(len(timings) - 1, int(len(timings) * 0.95))]
        self.stdout.write(
            f"{connection.vendor}: {n_rooms} rooms, {per_room * n_rooms} messages "
            f"(seeded in {seeded:.1f} s); GET /api/me/rooms/?limit=200 over {runs} runs: "
            f"p50 {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms, "
            f"max {timings[-1]:.1f} ms"
        )
