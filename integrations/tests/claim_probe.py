"""Two processes' delivery loops claiming at once: do they take different rows, unblocked?

Imported by the SQLite test (threads on the test database) and run as a subprocess
against PostgreSQL (DATABASE_URL of a fresh, migrated database), printing one JSON line:

    DATABASE_URL=postgres://... python integrations/tests/claim_probe.py
"""

from __future__ import annotations

import json
import os
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

ROWS = 5


def run(*, hold: float) -> dict[str, Any]:
    """Claimer A takes 2 rows and keeps its transaction open up to `hold` seconds while
    claimer B asks for all; B's answer, and whether it came before A committed."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection, connections, transaction

    from chat import services as chat_services
    from integrations import selectors, services

    settings.WEBHOOK_ALLOW_PRIVATE = True
    selectors.subscriptions_forget()
    tag = uuid.uuid4().hex[:8]
    room = chat_services.room_create(slug=f"claim-{tag}")
    user = get_user_model().objects.create_user(username=f"claim-{tag}")
    services.webhook_create(url="http://127.0.0.1:9/", events=["message.created"])
    for n in range(ROWS):
        chat_services.message_create(room=room, user=user, body=f"m{n}")
    selectors.subscriptions_forget()

    result: dict[str, Any] = {"vendor": connection.vendor, "errors": []}
    a_claimed, b_done = threading.Event(), threading.Event()

    def claimer_a() -> None:
        try:
            with transaction.atomic():
                result["a"] = [c.id for c in services.webhook_deliveries_claim(limit=2)]
                a_claimed.set()
                result["b_before_a_committed"] = b_done.wait(hold)
        except Exception as exc:  # reported, not raised in a thread
            result["errors"].append(repr(exc))
            a_claimed.set()
        finally:
            connections.close_all()

    def claimer_b() -> None:
        try:
            a_claimed.wait(30)
            result["b"] = [c.id for c in services.webhook_deliveries_claim(limit=10)]
            b_done.set()
        except Exception as exc:
            result["errors"].append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claimer_a), threading.Thread(target=claimer_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return result


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realtime.settings")
    import django

    django.setup()
    print(json.dumps(run(hold=10.0)))
