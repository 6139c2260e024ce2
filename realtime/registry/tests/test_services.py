"""The connection registry's writes (realtime.registry.services)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from realtime.registry import services
from realtime.registry.models import Connection, ServerProcess
from realtime.registry.services import Opening

pytestmark = pytest.mark.django_db


@pytest.fixture
def users() -> list[Any]:
    model = get_user_model()
    return [model.objects.create_user(username=f"u{i}", password="x") for i in (1, 2)]


@pytest.fixture
def no_instances(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if a Connection instance is built (the write path uses plain tuples)."""

    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("a Connection instance was built")

    monkeypatch.setattr(Connection, "__init__", refuse)


def open_many(openings: list[Opening], *, cap: int = 0) -> list[bool]:
    return services.connections_open(
        openings=openings, process_id="proc-a", max_per_user=cap, lease_seconds=30
    )


def test_connections_open_writes_every_column_without_building_instances(
    users, no_instances
):
    before = timezone.now()
    u1, u2 = users
    assert open_many(
        [Opening("c1", u1.pk, "chat", "lobby"), Opening("c2", u2.pk, "notify")]
    ) == [True, True]
    after = timezone.now()
    rows = list(
        Connection.objects.order_by("id").values(
            "id", "process_id", "user_id", "route", "room_key", "opened", "last_seen"
        )
    )
    assert [
        (r["id"], r["process_id"], r["user_id"], r["route"], r["room_key"])
        for r in rows
    ] == [
        ("c1", "proc-a", u1.pk, "chat", "lobby"),
        ("c2", "proc-a", u2.pk, "notify", ""),
    ]
    for row in rows:
        # Read back through the ORM as aware datetimes of this moment (auto_now_add).
        assert before <= row["opened"] == row["last_seen"] <= after
    # The process's lease row is made on its first socket.
    assert ServerProcess.objects.filter(id="proc-a").exists()


def test_the_per_user_cap_counts_rows_held_and_the_batch_in_order(users, no_instances):
    u1, u2 = users
    assert open_many([Opening("c1", u1.pk, "chat", "lobby")], cap=2) == [True]
    assert open_many(
        [
            Opening("c2", u1.pk, "chat", "lobby"),
            Opening("c3", u1.pk, "chat", "lobby"),  # u1's third: over the cap
            Opening("c4", u2.pk, "notify"),
        ],
        cap=2,
    ) == [True, False, True]
    assert sorted(Connection.objects.values_list("id", flat=True)) == ["c1", "c2", "c4"]


def test_connections_close_removes_the_rows_and_reports_them(users):
    u1, _ = users
    open_many([Opening("c1", u1.pk, "chat", "lobby")])
    closed = services.connections_close(connection_ids=["c1", "gone"])
    assert closed == [services.ClosedConnection("c1", u1.pk, "chat", "lobby")]
    assert not Connection.objects.exists()
