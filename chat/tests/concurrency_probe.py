"""Concurrent writers against message_create: the seq they get, and how fast.

Imported by the SQLite test (in-process threads on the test database) and run as a
subprocess against PostgreSQL (DATABASE_URL of a fresh, migrated database), where it
prints its result as one JSON line:

    DATABASE_URL=postgres://... python chat/tests/concurrency_probe.py --threads 8 --messages 40
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any


def run(*, threads: int, messages: int) -> dict[str, Any]:
    """`threads` users post `messages` each into one room at once, then all resend one client_id."""
    from realtime.fanout import broadcast

    # Record what is published after each commit instead of delivering it: the figure is
    # the storing service's, and every stored message must be published exactly once.
    published: list[int] = []
    record_lock = threading.Lock()

    def record(batch: Any) -> None:
        with record_lock:
            published.extend(
                json.loads(event.text)["seq"]
                for _, event in batch
                if event.kind == "message"
            )

    real, broadcast.dispatch_many = broadcast.dispatch_many, record
    try:
        return _run(threads=threads, messages=messages, published=published)
    finally:
        broadcast.dispatch_many = real


def _run(*, threads: int, messages: int, published: list[int]) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.db import connections

    from chat import services
    from chat.models import Message

    tag = uuid.uuid4().hex[:8]
    room = services.room_create(slug=f"probe-{tag}", name="probe")
    users = [
        get_user_model().objects.create_user(username=f"probe{i}-{tag}")
        for i in range(threads)
    ]
    errors: list[str] = []
    start = threading.Barrier(threads)

    def writer(index: int) -> None:
        try:
            start.wait(timeout=30)
            for n in range(messages):
                services.message_create(
                    room=room, user=users[index], body=f"{index}-{n}"
                )
        except Exception as exc:  # reported, and the caller fails on any
            errors.append(repr(exc))
        finally:
            connections.close_all()

    began = time.perf_counter()
    workers = [threading.Thread(target=writer, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    elapsed = time.perf_counter() - began
    seqs = list(
        Message.objects.filter(room=room).order_by("seq").values_list("seq", flat=True)
    )

    # Every thread resends the same client_id as the same user, at the same moment.
    replies: list[tuple[int, bool]] = []
    again = threading.Barrier(threads)

    def resender() -> None:
        try:
            again.wait(timeout=30)
            message, created = services.message_create(
                room=room, user=users[0], body="once", client_id=f"same-{tag}"
            )
            replies.append((message.pk, created))
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connections.close_all()

    workers = [threading.Thread(target=resender) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    stored = Message.objects.filter(room=room, client_id=f"same-{tag}").count()
    room.refresh_from_db()
    return {
        "vendor": connections["default"].vendor,
        "threads": threads,
        "messages": threads * messages,
        "seqs": seqs,
        "published": sorted(published),
        "last_seq": room.last_seq,
        "seconds": round(elapsed, 3),
        "per_second": round(threads * messages / elapsed, 1),
        "resend_ids": sorted({pk for pk, _ in replies}),
        "resend_created": sum(1 for _, created in replies if created),
        "resend_stored": stored,
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--messages", type=int, default=40)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realtime.settings")
    import django

    django.setup()
    print(json.dumps(run(threads=args.threads, messages=args.messages)))


if __name__ == "__main__":
    main()
