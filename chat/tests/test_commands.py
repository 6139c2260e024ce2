"""The chat management commands: createroom, grant, revoke, broadcast, seed_demo."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from chat.models import Membership, Message, Room
from chat.topics import chat_all_group, chat_room_group
from realtime.socket.closecodes import CloseCode

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_createroom_makes_a_private_room_with_its_owner_on_the_whitelist(alice):
    out = run("createroom", "ops", "--name", "Ops", "--private", "--owner", "alice")
    room = Room.objects.get(slug="ops")
    assert room.is_private and room.name == "Ops" and room.owner == alice
    assert Membership.objects.filter(room=room, user=alice).exists()
    assert "created private room ops" in out


def test_createroom_refuses_a_taken_slug(lobby):
    with pytest.raises(CommandError):
        run("createroom", "lobby")


def test_grant_and_revoke_change_the_whitelist_and_revoke_closes_sockets(
    secret, bob, carol, published, django_capture_on_commit_callbacks
):
    run("grant", "secret", "bob", "carol")
    assert set(
        Membership.objects.filter(room=secret).values_list("user__username", flat=True)
    ) == {"alice", "bob", "carol"}
    with django_capture_on_commit_callbacks(execute=True):
        out = run("revoke", "secret", "bob")
    assert "revoked: bob" in out
    assert not Membership.objects.filter(room=secret, user=bob).exists()
    assert published.closes() == [
        (chat_room_group(secret.pk), CloseCode.FORBIDDEN, bob.pk)
    ]


def test_grant_names_unknown_rooms_and_users(lobby):
    with pytest.raises(CommandError, match="no such room"):
        run("grant", "nope", "alice")
    with pytest.raises(CommandError, match="no such user"):
        run("grant", "lobby", "ghost")


def test_broadcast_sends_a_system_frame_to_a_room_or_every_room(
    lobby, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run("broadcast", "lobby", "hello room")
        run("broadcast", "--all", "hello all")
    assert [t for t, _ in published] == [
        chat_room_group(lobby.pk),
        chat_all_group(),
    ]
    assert [f["body"] for f in published.frames()] == ["hello room", "hello all"]
    assert not Message.objects.exists()  # system frames are not stored messages


def test_broadcast_as_a_user_posts_a_stored_message_through_the_same_service(
    lobby, bob, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        out = run("broadcast", "lobby", "from the shell", "--as", "bob")
    assert "seq 1" in out
    (frame,) = published.frames(chat_room_group(lobby.pk))
    assert frame["type"] == "message" and frame["user"]["username"] == "bob"


@pytest.mark.parametrize(
    "args", [("broadcast", "hi"), ("broadcast", "lobby", "hi", "--all")]
)
def test_broadcast_needs_exactly_one_target(lobby, args):
    with pytest.raises(CommandError):
        run(*args)


def test_seed_demo_refuses_to_run_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DJANGO_DEBUG=1"):
        run("seed_demo")
    assert not get_user_model().objects.filter(username="admin").exists()


def test_seed_demo_runs_with_debug_off_when_forced(settings):
    settings.DEBUG = False
    run("seed_demo", "--force")
    assert get_user_model().objects.get(username="admin").is_superuser


def test_seed_demo_is_idempotent_and_says_what_it_made(settings):
    settings.DEBUG = True  # as `make run` runs it
    first = run("seed_demo")
    assert "created superuser admin" in first and "created private room staff" in first
    counts = (
        get_user_model().objects.count(),
        Room.objects.count(),
        Message.objects.count(),
    )
    second = run("seed_demo")
    assert "kept room lobby" in second and "0 created" in second
    assert (
        get_user_model().objects.count(),
        Room.objects.count(),
        Message.objects.count(),
    ) == counts
    User = get_user_model()
    assert User.objects.get(username="admin").is_superuser
    assert User.objects.get(username="alice").is_staff
    assert not User.objects.get(username="bob").is_staff
    assert User.objects.get(username="carol").check_password("realtime-demo")
    staff = Room.objects.get(slug="staff")
    assert staff.is_private
    assert set(staff.memberships.values_list("user__username", flat=True)) == {
        "admin",
        "alice",
    }
    assert not Room.objects.get(slug="lobby").is_private
    assert not Room.objects.get(slug="random").is_private
