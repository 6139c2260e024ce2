"""Services and selectors: stored first, pushed after commit to the user's notify topic only."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from notifications import selectors, services
from notifications.models import Notification
from notifications.topics import notify_topic
from realtime.registry.models import Outbox

pytestmark = pytest.mark.django_db


def users(n: int, prefix: str = "u") -> list[int]:
    User = get_user_model()
    User.objects.bulk_create(
        [User(username=f"{prefix}{i}", password="!") for i in range(n)]
    )
    return list(
        User.objects.filter(username__startswith=prefix)
        .order_by("id")
        .values_list("id", flat=True)
    )


def pushed() -> list[tuple[str, dict]]:
    """What services pushed (a process without a hub writes the outbox)."""
    return [
        (row.topic, orjson.loads(row.payload["text"]))
        for row in Outbox.objects.order_by("id")
        if row.payload.get("text")
    ]


def test_create_stores_then_pushes_the_frame_after_commit(
    django_capture_on_commit_callbacks,
):
    [alice] = users(1)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        n = services.notification_create(
            user_id=alice, title=" Hi ", body="there", level="success"
        )
    assert pushed() == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()
    assert Notification.objects.get().title == "Hi"
    assert pushed() == [
        (
            notify_topic(alice),
            {
                "type": "notification",
                "id": n.pk,
                "title": "Hi",
                "body": "there",
                "level": "success",
                "link": "",
                "ts": n.created.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
                "read": False,
            },
        )
    ]


def test_nothing_is_pushed_when_the_transaction_rolls_back(
    django_capture_on_commit_callbacks,
):
    [alice] = users(1)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            services.notification_create(user_id=alice, title="Hi")
            raise RuntimeError
    assert callbacks == [] and pushed() == [] and not Notification.objects.exists()


@pytest.mark.parametrize(
    "fields",
    [
        {"title": "  "},
        {"title": "x" * 201},
        {"title": "t", "level": "fatal"},
        {"title": "t", "body": "b" * 4001},
    ],
)
def test_invalid_fields_are_refused_before_any_write(fields):
    [alice] = users(1)
    with pytest.raises(ValidationError):
        services.notification_create(user_id=alice, **fields)
    with pytest.raises(ValidationError):
        services.notifications_create_bulk(user_ids=[alice], **fields)
    assert not Notification.objects.exists()


def test_bulk_writes_one_row_each_in_few_queries_and_pushes_each_user_its_own_id(
    django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    ids = users(2000)
    with django_capture_on_commit_callbacks(execute=True):
        # 2000 rows: a handful of multi-row INSERTs (SQLite caps a statement's parameters),
        # plus one outbox insert per 500 events after commit; never one query per user.
        with django_assert_max_num_queries(40):
            count = services.notifications_create_bulk(
                user_ids=ids + ids[:10],
                title="Maintenance",
                body="tonight",
                level="warning",
            )
    assert count == 2000  # duplicates are sent once
    rows = dict(Notification.objects.values_list("user_id", "id"))
    assert sorted(rows) == ids
    frames = pushed()
    assert len(frames) == 2000
    for topic, frame in frames:
        user_id = int(topic.rsplit(".", 1)[1])
        assert topic == notify_topic(user_id)
        assert frame["id"] == rows[user_id]
        assert frame | {"id": 0, "ts": ""} == {
            "type": "notification",
            "id": 0,
            "title": "Maintenance",
            "body": "tonight",
            "level": "warning",
            "link": "",
            "ts": "",
            "read": False,
        }


def test_bulk_to_nobody_writes_and_pushes_nothing(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert services.notifications_create_bulk(user_ids=[], title="x") == 0
    assert callbacks == [] and not Notification.objects.exists()


def test_mark_read_pushes_the_new_unread_count_to_the_owner(
    django_capture_on_commit_callbacks,
):
    alice, bob = users(2)
    first = services.notification_create(user_id=alice, title="1")
    services.notification_create(user_id=alice, title="2")
    Outbox.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            services.notification_mark_read(notification_id=first.pk, user_id=alice)
            == 1
        )
        # reading it again changes nothing and answers the same count
        assert (
            services.notification_mark_read(notification_id=first.pk, user_id=alice)
            == 1
        )
    assert (
        pushed()
        == [(notify_topic(alice), {"type": "unread", "count": 1, "unread": 1})] * 2
    )
    first.refresh_from_db()
    assert first.read_at is not None


def test_mark_read_of_someone_elses_or_a_missing_id_changes_nothing(
    django_capture_on_commit_callbacks,
):
    alice, bob = users(2)
    hers = services.notification_create(user_id=alice, title="private")
    Outbox.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            services.notification_mark_read(notification_id=hers.pk, user_id=bob)
            is None
        )
        assert (
            services.notification_mark_read(notification_id=hers.pk + 999, user_id=bob)
            is None
        )
    assert pushed() == []
    hers.refresh_from_db()
    assert hers.read_at is None


def test_mark_all_read_marks_only_the_users_own(django_capture_on_commit_callbacks):
    alice, bob = users(2)
    services.notifications_create_bulk(user_ids=[alice, bob], title="a")
    services.notifications_create_bulk(user_ids=[alice, bob], title="b")
    Outbox.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.notifications_mark_all_read(user_id=alice) == 0
    assert pushed() == [
        (notify_topic(alice), {"type": "unread", "count": 0, "unread": 0})
    ]
    assert selectors.notification_unread_count(user_id=alice) == 0
    assert selectors.notification_unread_count(user_id=bob) == 2


def test_backlog_holds_at_most_100_unread_newest_first_and_the_full_count():
    [alice] = users(1)
    now = timezone.now()
    Notification.objects.bulk_create(
        [
            Notification(
                user_id=alice, title=f"n{i}", created=now + dt.timedelta(seconds=i)
            )
            for i in range(105)
        ]
    )
    Notification.objects.filter(title="n104").update(read_at=now)
    count, frames = selectors.notification_backlog(user_id=alice)
    assert count == 104
    assert len(frames) == 100
    assert [f["title"] for f in frames[:3]] == ["n103", "n102", "n101"]
    assert all(f["read"] is False for f in frames)


def test_list_is_newest_first_and_filters_unread():
    [alice] = users(1)
    a = services.notification_create(user_id=alice, title="old")
    b = services.notification_create(user_id=alice, title="new")
    services.notification_mark_read(notification_id=b.pk, user_id=alice)
    assert [n.pk for n in selectors.notification_list(user_id=alice)] == [b.pk, a.pk]
    assert [
        n.pk for n in selectors.notification_list(user_id=alice, unread_only=True)
    ] == [a.pk]


def test_username_lookup_lists_the_unknown_names_in_order():
    users(2)
    ids, unknown = selectors.users_by_usernames(
        usernames=["zed", "u1", "u0", "u1", "amy"]
    )
    User = get_user_model()
    assert ids == [
        User.objects.get(username="u1").pk,
        User.objects.get(username="u0").pk,
    ]
    assert unknown == ["zed", "amy"]


@pytest.mark.parametrize("link", ["javascript:alert(1)", "//evil.example/"])
def test_every_way_of_sending_refuses_an_unsafe_link(link):
    alice = get_user_model().objects.create_user("alice-link")
    with pytest.raises(ValidationError) as single:
        services.notification_create(user_id=alice.pk, title="t", link=link)
    with pytest.raises(ValidationError) as bulk:
        services.notifications_create_bulk(user_ids=[alice.pk], title="t", link=link)
    assert "link" in single.value.message_dict and "link" in bulk.value.message_dict
    assert not Notification.objects.filter(user=alice).exists()
