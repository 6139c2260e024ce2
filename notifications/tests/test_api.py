"""REST: own list, mark read, mark all read; staff-only send; the OpenAPI schema."""

from __future__ import annotations

import uuid

import orjson
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from notifications import services
from notifications.models import Notification
from notifications.topics import notify_topic
from realtime.registry.models import Outbox
from tests.rest import api_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return get_user_model().objects.create_user("alice", password="pw-alice-1234")


@pytest.fixture
def bob():
    return get_user_model().objects.create_user("bob", password="pw-bob-1234")


def grant(user, codename: str):
    """The user, holding app `notifications`'s permission `codename` too."""
    user.user_permissions.add(
        Permission.objects.get(
            content_type__app_label="notifications", codename=codename
        )
    )
    return get_user_model().objects.get(pk=user.pk)  # a fresh permission cache


@pytest.fixture
def staff():
    """Staff who may send: the flag and notifications.add_notification."""
    user = get_user_model().objects.create_user(
        "root", password="pw-root-1234", is_staff=True
    )
    return grant(user, "add_notification")


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def test_list_shows_only_own_notifications_newest_first_paginated(alice, bob):
    for i in range(3):
        services.notification_create(user_id=alice.pk, title=f"a{i}", link="/rooms/x/")
    services.notification_create(user_id=bob.pk, title="b")
    resp = client_for(alice).get("/api/notifications/?limit=2")
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 3 and body["next"] and len(body["results"]) == 2
    first = body["results"][0]
    assert (
        first["title"] == "a2" and first["read"] is False and first["read_at"] is None
    )
    assert set(first) == {
        "id",
        "title",
        "body",
        "level",
        "link",
        "ts",
        "read",
        "read_at",
    }
    assert first["link"] == "/rooms/x/" and first["ts"].endswith("Z")
    page2 = client_for(alice).get(body["next"]).json()
    assert [n["title"] for n in page2["results"]] == ["a0"]


def test_list_unread_filter(alice):
    one = services.notification_create(user_id=alice.pk, title="one")
    services.notification_create(user_id=alice.pk, title="two")
    services.notification_mark_read(notification_id=one.pk, user_id=alice.pk)
    unread = client_for(alice).get("/api/notifications/?unread=1").json()
    assert [n["title"] for n in unread["results"]] == ["two"]
    everything = client_for(alice).get("/api/notifications/?unread=0").json()
    assert [n["title"] for n in everything["results"]] == ["two", "one"]
    assert everything["results"][1]["read"] is True
    resp = client_for(alice).get("/api/notifications/?unread=maybe")
    assert "unread" in api_error(resp, 400, "invalid")


@pytest.mark.parametrize(
    "query",
    ["unread=true", "unread=", "unread=2", "limit=x", "limit=0", "limit=201"]
    + ["offset=-1", "offset=", "limit=1.0"],
)
def test_list_parameters_are_1_or_0_and_positive_integers_never_guessed(alice, query):
    # `true` and `page_size=x` were taken as 1 and as the default page size.
    resp = client_for(alice).get(f"/api/notifications/?{query}")
    assert set(api_error(resp, 400, "invalid")) == {query.split("=")[0]}


@pytest.mark.parametrize(
    "method,path",
    [
        ("get", "/api/notifications/"),
        ("post", "/api/notifications/read-all/"),
        ("post", "/api/notifications/1/read/"),
        ("post", "/api/notifications/"),
    ],
)
def test_anonymous_callers_get_401_json(method, path):
    resp = getattr(client_for(), method)(path, {}, format="json")
    api_error(resp, 401, "not_authenticated")


def test_mark_read_answers_the_new_count_and_hides_other_users_ids(alice, bob):
    mine = services.notification_create(user_id=alice.pk, title="mine")
    services.notification_create(user_id=alice.pk, title="also mine")
    resp = client_for(alice).post(f"/api/notifications/{mine.pk}/read/")
    assert resp.status_code == 200 and resp.json() == {"unread": 1}
    other = client_for(bob).post(f"/api/notifications/{mine.pk}/read/")
    missing = client_for(bob).post(f"/api/notifications/{mine.pk + 100}/read/")
    api_error(other, 404, "not_found")
    assert other.json() == missing.json()


@pytest.mark.parametrize("raw", ["99999999999999999999", "abc", "-1"])
def test_junk_ids_in_the_read_path_are_404_json_never_500(alice, raw):
    resp = client_for(alice).post(f"/api/notifications/{raw}/read/")
    api_error(resp, 404, "not_found")


def test_read_all_marks_everything_and_pushes_zero(
    alice, django_capture_on_commit_callbacks
):
    services.notifications_create_bulk(user_ids=[alice.pk], title="1")
    services.notifications_create_bulk(user_ids=[alice.pk], title="2")
    Outbox.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        resp = client_for(alice).post("/api/notifications/read-all/")
    assert resp.status_code == 200 and resp.json() == {"unread": 0}
    assert not Notification.objects.filter(read_at__isnull=True).exists()
    [row] = Outbox.objects.all()
    assert row.topic == notify_topic(alice.pk)
    assert orjson.loads(row.payload["text"]) == {
        "type": "unread",
        "count": 0,
        "unread": 0,
    }


def test_non_staff_may_not_send(alice, bob):
    resp = client_for(alice).post(
        "/api/notifications/", {"usernames": ["bob"], "title": "spam"}, format="json"
    )
    assert resp.status_code == 403
    assert not Notification.objects.exists()


def test_staff_send_by_usernames_and_ids_stores_and_pushes(
    staff, alice, bob, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        resp = client_for(staff).post(
            "/api/notifications/",
            {
                "usernames": ["alice"],
                "user_ids": [bob.pk, alice.pk],
                "title": "Hello",
                "body": "world",
                "level": "warning",
            },
            format="json",
        )
    assert resp.status_code == 201, resp.json()
    assert resp.json() == {"count": 2}
    stored = {n.user_id: n for n in Notification.objects.all()}
    assert set(stored) == {alice.pk, bob.pk}
    assert stored[bob.pk].level == "warning" and stored[bob.pk].body == "world"
    assert {row.topic for row in Outbox.objects.all()} == {
        notify_topic(alice.pk),
        notify_topic(bob.pk),
    }


def test_unknown_usernames_are_a_400_that_lists_them_and_sends_nothing(staff, alice):
    resp = client_for(staff).post(
        "/api/notifications/",
        {"usernames": ["alice", "ghost", "nobody"], "title": "Hi"},
        format="json",
    )
    assert api_error(resp, 400, "invalid") == {
        "usernames": ["Unknown usernames: ghost, nobody"]
    }
    assert not Notification.objects.exists()


@pytest.mark.parametrize(
    "payload",
    [
        {"title": "no one"},
        {"usernames": ["alice"]},
        {"usernames": ["alice"], "title": "x", "level": "fatal"},
        {"user_ids": [0], "title": "x"},
        {"usernames": "alice", "title": "x"},
        {"usernames": ["alice"], "title": 5},
        {"user_ids": ["1"], "title": "x"},
        {"user_ids": [True], "title": "x"},
        {"user_ids": [2**63], "title": "x"},
        {"usernames": ["alice"], "title": "x", "level": 1},
        {"usernames": ["alice"], "title": "x", "urgent": True},
    ],
)
def test_bad_sends_are_400_field_errors(staff, alice, payload):
    resp = client_for(staff).post("/api/notifications/", payload, format="json")
    assert api_error(resp, 400, "invalid")
    assert not Notification.objects.exists()


def test_the_errors_of_list_items_are_keyed_by_dotted_index(staff, alice):
    resp = client_for(staff).post(
        "/api/notifications/",
        {"user_ids": [alice.pk, "2", True], "title": "x"},
        format="json",
    )
    assert api_error(resp, 400, "invalid") == {
        "user_ids.1": ["Expected an integer."],
        "user_ids.2": ["Expected an integer."],
    }
    too_small = client_for(staff).post(
        "/api/notifications/", {"user_ids": [alice.pk, 0], "title": "x"}, format="json"
    )
    assert set(api_error(too_small, 400, "invalid")) == {"user_ids.1"}


@pytest.mark.parametrize(
    "user_ids",
    [[str(10**20)] * 3, [str(10**20)] * 1001, ["1"] * 1001],
    ids=["huge", "huge-and-too-many", "too-many"],
)
def test_a_form_send_is_a_415_whatever_it_holds(staff, alice, user_ids):
    # A multipart body over DATA_UPLOAD_MAX_NUMBER_FIELDS raised TooManyFieldsSent
    # inside DRF's parsing, which ended as a 500; now no form is parsed at all.
    resp = client_for(staff).post(
        "/api/notifications/", {"user_ids": user_ids, "title": "x"}, format="multipart"
    )
    api_error(resp, 415, "unsupported_media_type")
    assert not Notification.objects.exists()


def test_a_form_body_is_a_415_even_over_the_upload_limit(staff, alice, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    resp = client_for(staff).post(
        "/api/notifications/",
        data=f"usernames=alice&title={'x' * 200}",
        content_type="application/x-www-form-urlencoded",
    )
    api_error(resp, 415, "unsupported_media_type")


def test_the_openapi_schema_documents_the_notifications_api():
    resp = client_for().get("/api/schema/?format=json")
    assert resp.status_code == 200
    schema = orjson.loads(resp.content)
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/notifications/"])
    assert "post" in paths["/api/notifications/{id}/read/"]
    assert "post" in paths["/api/notifications/read-all/"]
    send = schema["components"]["schemas"]["NotificationSendRequest"]["properties"]
    assert {"usernames", "user_ids", "title", "body", "level"} <= set(send)
    params = {p["name"] for p in paths["/api/notifications/"]["get"]["parameters"]}
    assert {"unread", "limit", "offset"} <= params


@pytest.mark.parametrize(
    "who",
    ["staff without the permission", "staff who may only view notifications"],
)
def test_staff_without_the_add_permission_may_not_send(who, alice):
    user = get_user_model().objects.create_user("ops", is_staff=True)
    if "view" in who:
        user = grant(user, "view_notification")
    resp = client_for(user).post(
        "/api/notifications/", {"usernames": ["alice"], "title": "hi"}, format="json"
    )
    assert resp.status_code == 403
    assert "add_notification" in resp.json()["detail"]
    assert not Notification.objects.exists()


def test_a_superuser_may_send(alice):
    root = get_user_model().objects.create_superuser("boss", password="pw-boss-1234")
    resp = client_for(root).post(
        "/api/notifications/", {"usernames": ["alice"], "title": "hi"}, format="json"
    )
    assert resp.status_code == 201


def test_sends_count_against_api_write_throttle_and_reads_do_not(
    settings, staff, alice
):
    settings.API_WRITE_THROTTLE = "2/min"
    settings.CACHES = {  # a cache of this test's own: the counts start from nothing
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"notifications-api-writes-{uuid.uuid4().hex}",
        }
    }
    client = client_for(staff)
    send = {"usernames": ["alice"], "title": "hi"}
    statuses = [
        client.post("/api/notifications/", send, format="json").status_code
        for _ in range(3)
    ]
    read = client_for(alice)
    marks = [read.post("/api/notifications/read-all/").status_code for _ in range(3)]
    lists = [read.get("/api/notifications/").status_code for _ in range(3)]
    assert statuses == [201, 201, 429]
    assert marks == [200, 200, 200] and lists == [200, 200, 200]


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox",
        "//evil.example/",
        "/\\evil.example/",
        "/\t/evil.example/",
        "http://",
        "ftp://files.example/x",
        "rooms/lobby/",
    ],
)
def test_a_send_with_a_link_that_is_not_web_or_same_site_is_a_400(staff, alice, link):
    resp = client_for(staff).post(
        "/api/notifications/",
        {"usernames": ["alice"], "title": "hi", "link": link},
        format="json",
    )
    assert "link" in api_error(resp, 400, "invalid")
    assert not Notification.objects.exists()


@pytest.mark.parametrize(
    "link",
    [
        "/rooms/lobby/#seq-5",
        "/",
        "https://status.example.com/x?y=1",
        "http://h.example",
    ],
)
def test_a_send_may_link_to_the_web_or_a_path_of_this_site(staff, alice, link):
    resp = client_for(staff).post(
        "/api/notifications/",
        {"usernames": ["alice"], "title": "hi", "link": link},
        format="json",
    )
    assert resp.status_code == 201, resp.json()
    assert Notification.objects.get().link == link
