"""`manage.py send_notification` in-process; its push over a real server is in test_e2e."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from notifications.models import Notification
from notifications.topics import notify_topic
from realtime.registry.models import Outbox

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def people():
    User = get_user_model()
    return [
        User.objects.create_user("alice"),
        User.objects.create_user("bob"),
        User.objects.create_user("gone", is_active=False),
    ]


def test_named_users_get_it_and_it_is_queued_for_the_serving_process(people, capsys):
    alice, bob, _ = people
    call_command(
        "send_notification",
        "alice",
        "bob",
        "--title",
        "Hi",
        "--body",
        "b",
        "--level",
        "success",
    )
    assert "Sent 2 notifications." in capsys.readouterr().out
    assert sorted(Notification.objects.values_list("user_id", "level")) == [
        (alice.pk, "success"),
        (bob.pk, "success"),
    ]
    # No hub in this process, no Redis: the outbox carries it to the serving process.
    assert sorted(Outbox.objects.values_list("topic", flat=True)) == sorted(
        [notify_topic(alice.pk), notify_topic(bob.pk)]
    )


def test_all_users_means_every_active_user(people):
    call_command("send_notification", "--all-users", "--title", "Everyone")
    assert Notification.objects.count() == 2
    assert not Notification.objects.filter(user__username="gone").exists()


@pytest.mark.parametrize(
    "args,message",
    [
        (["alice", "ghost", "--title", "x"], "Unknown usernames: ghost"),
        (["--title", "x"], "--all-users"),
        (["alice", "--all-users", "--title", "x"], "not both"),
        (["alice", "--title", "   "], "title"),
    ],
)
def test_mistakes_are_command_errors_and_send_nothing(people, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("send_notification", *args)
    assert not Notification.objects.exists()


def test_bench_notify_measures_a_bulk_send_to_ten_thousand_users(capsys):
    # The figure: 10,000 recipients must take seconds. The command prints it.
    call_command("bench_notify", "--users", "10000", "--repeat", "1")
    out = capsys.readouterr().out
    with capsys.disabled():
        print("\n" + out)
    total = float(out.split("run 1: ")[1].split(" s total")[0])
    assert "10000 stored, 10000 pushed" in out
    assert total < 30, out


@pytest.mark.cluster
def test_bench_notify_on_postgresql(pg_database, capsys):
    # The same measurement against PostgreSQL, in a process of its own (the figure the
    # issue asks for): `DATABASE_URL=postgres://... manage.py bench_notify`.
    from tests import harness

    env = harness.base_env(DATABASE_URL=pg_database, LOG_FORMAT="text")
    harness.migrate(env)
    out = harness.manage(
        env, "bench_notify", "--users", "10000", "--repeat", "1", timeout=300
    )
    with capsys.disabled():
        print("\n" + out)
    assert "database=postgresql" in out and "10000 stored, 10000 pushed" in out
    assert float(out.split("run 1: ")[1].split(" s total")[0]) < 30, out
