"""Every frame a notify socket sends keeps its schema (NotifyConsumer.outbound and the
plumbing's), built by the real services and builders; a frame off its schema is named."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model

from chat import selectors as chat_selectors
from chat import services as chat_services
from notifications import selectors, services
from notifications.consumers import NotifyConsumer
from notifications.schemas import OUTBOUND_KINDS, notification_frame, welcome_frame
from realtime.registry.models import Outbox
from realtime.socket.frames import dumps, outbound_problem

pytestmark = pytest.mark.django_db

TABLE = NotifyConsumer.outbound_schemas()


def test_the_frames_of_sends_and_reads_keep_their_schemas(
    django_capture_on_commit_callbacks,
):
    alice = get_user_model().objects.create_user("alice", password="!")
    bob = get_user_model().objects.create_user("bob", password="!")
    with django_capture_on_commit_callbacks(execute=True):
        one = services.notification_create(user_id=alice.pk, title="Hi", level="error")
        services.notifications_create_bulk(
            user_ids=[alice.pk, bob.pk], title="All", body="of you"
        )
        services.notification_mark_read(notification_id=one.pk, user_id=alice.pk)
        services.notifications_mark_all_read(user_id=alice.pk)
    # A process without a hub pushes through the outbox: what the sockets would get.
    sent = [row.payload["text"] for row in Outbox.objects.order_by("id")]
    assert len(sent) == 5
    for text in sent:
        assert outbound_problem(text, TABLE) is None, text


def test_the_welcome_with_the_unread_backlog_keeps_its_schema():
    alice = get_user_model().objects.create_user("alice", password="!")
    for title in ("one", "two"):
        services.notification_create(user_id=alice.pk, title=title)
    unread, backlog = selectors.notification_backlog(user_id=alice.pk)
    bob = get_user_model().objects.create_user("bob", password="!")
    dm, _ = chat_services.direct_room_get_or_create(user=alice, other=bob)
    chat_services.message_create(room=dm, user=bob, body="hi @alice")
    chat_services.room_create(slug="lobby", owner=alice)
    frame = welcome_frame(
        user_id=alice.pk,
        username="alice",
        connection_id="c0nnect10n1d",
        heartbeat_interval=25,
        unread=unread,
        notifications=backlog,
        rooms=chat_selectors.my_rooms(user=alice),
    )
    assert len(frame["notifications"]) == 2
    assert [r["kind"] for r in frame["rooms"]] == ["public", "direct"]
    assert outbound_problem(dumps(frame), TABLE) is None


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"url": "/rooms/lobby/"}, "url: Extra inputs are not permitted"),
        ({"link": None}, "link: Input should be a valid string"),
        ({"level": "fatal"}, "level: Input should be 'info'"),
        ({"read": 0}, "read: Input should be a valid boolean"),
        ({"type": "notifications"}, "type 'notifications' is not one"),
    ],
)
def test_a_notification_frame_off_its_schema_is_named(changes, problem):
    frame = notification_frame(
        id=7,
        title="t",
        body="b",
        level="info",
        link="",
        created=dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
        read=False,
    )
    found = outbound_problem(dumps({**frame, **changes}), TABLE)
    assert found is not None and problem in found, found


def test_every_kind_a_notify_socket_forwards_has_a_schema():
    assert OUTBOUND_KINDS <= set(TABLE)
    assert {"welcome", "error", "heartbeat", "auth"} <= set(TABLE)
