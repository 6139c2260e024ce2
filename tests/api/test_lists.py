"""One list convention (rooms, members, presence, notifications): `?limit=&offset=` ->
`{count, next, previous, results}`; a `limit` over 200 is `400 invalid`, never cut."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from chat import services
from chat.topics import ROUTE
from notifications import services as notifications
from realtime.registry import services as registry
from tests.rest import api_error

pytestmark = pytest.mark.django_db

LISTS = [
    "/api/rooms/",
    "/api/rooms/lobby/members/",
    "/api/rooms/lobby/presence/",
    "/api/notifications/",
]


@pytest.fixture
def alice() -> Any:
    """alice, with three of everything in every list."""
    User = get_user_model()
    alice = User.objects.create_user("alice")
    lobby = services.room_create(slug="lobby", owner=alice)
    for n in range(2):
        services.room_create(slug=f"room{n}")
    for name in ("bob", "carol"):
        services.membership_grant(room=lobby, user=User.objects.create_user(name))
    for n, user in enumerate(User.objects.all()):
        registry.connection_open(
            connection_id=f"c{n}",
            process_id="p",
            user_id=user.pk,
            route=ROUTE,
            room_key="lobby",
            max_per_user=0,
            lease_seconds=30,
        )
    for n in range(3):
        notifications.notification_create(user_id=alice.pk, title=f"n{n}")
    return alice


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize("path", LISTS)
def test_every_list_pages_by_limit_and_offset_with_one_envelope(alice, path):
    client = client_for(alice)
    first = client.get(f"{path}?limit=2")
    assert first.status_code == 200
    page = first.json()
    assert set(page) == {"count", "next", "previous", "results"}
    assert page["count"] == 3 and len(page["results"]) == 2
    assert page["previous"] is None and "offset=2" in page["next"]
    last = client.get(page["next"]).json()
    assert len(last["results"]) == 1 and last["next"] is None
    assert last["previous"]
    seen = page["results"] + last["results"]
    assert len({repr(item) for item in seen}) == 3  # no item twice, none lost
    beyond = client.get(f"{path}?offset=50").json()
    assert beyond["results"] == [] and beyond["count"] == 3
    assert len(client.get(path).json()["results"]) == 3  # default limit 50


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    "query", ["limit=201", "limit=500", "limit=0", "limit=x", "offset=-1", "limit="]
)
def test_a_bad_or_too_large_limit_is_a_400_never_cut(alice, path, query):
    response = client_for(alice).get(f"{path}?{query}")
    assert query.split("=")[0] in api_error(response, 400, "invalid")


@pytest.mark.parametrize("path", LISTS)
def test_the_largest_limit_is_200(alice, path):
    assert client_for(alice).get(f"{path}?limit=200").status_code == 200
