"""Conversations: kinds, direct rooms, belonging, read pointers, unread and mentions."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, seed
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from chat import selectors, services
from chat.errors import NotAllowed
from chat.models import Mention, ReadPointer, Room
from chat.services.activity import mentioned_names
from chat.services.conversations import (
    direct_room_get_or_create,
    room_join,
    room_leave,
)
from chat.services.reads import read_pointer_move
from chat.topics import FOLLOW, UNFOLLOW, chat_activity_topic
from notifications.models import Notification
from notifications.topics import notify_topic
from realtime.fanout.topics import user_topic

pytestmark = pytest.mark.django_db


def post(room: Room, user: Any, body: str = "hi") -> Any:
    message, _ = services.message_create(room=room, user=user, body=body)
    return message


def entry(user: Any, slug: str) -> dict[str, Any] | None:
    return next((e for e in selectors.my_rooms(user=user) if e["slug"] == slug), None)


# --- kinds and direct rooms ------------------------------------------------------------


def test_rooms_get_their_kind_from_privacy(lobby, secret):
    assert (lobby.kind, secret.kind) == ("public", "private")
    services.room_update(room=secret, is_private=False)
    assert Room.objects.get(pk=secret.pk).kind == "public"


def test_a_direct_room_is_the_same_room_from_both_sides(alice, bob):
    room, created = direct_room_get_or_create(user=alice, other=bob)
    again, created_again = direct_room_get_or_create(user=bob, other=alice)
    assert (created, created_again) == (True, False)
    assert again.pk == room.pk and room.kind == "direct" and room.is_private
    assert "alice" not in room.slug and "bob" not in room.slug


def test_a_direct_room_admits_only_its_two_users(alice, bob, carol):
    room, _ = direct_room_get_or_create(user=alice, other=bob)
    assert selectors.user_can_enter(room=room, user=bob)
    assert not selectors.user_can_enter(room=room, user=carol)
    assert room.slug not in [r.slug for r in selectors.rooms_for_user(user=carol)]


def test_a_direct_rooms_whitelist_is_fixed(alice, bob, carol):
    room, _ = direct_room_get_or_create(user=alice, other=bob)
    with pytest.raises(NotAllowed):
        services.membership_grant(room=room, user=carol)
    with pytest.raises(NotAllowed):
        services.membership_revoke(room=room, user=bob)
    with pytest.raises(ValidationError):
        services.room_update(room=room, is_private=False)


def test_no_direct_room_with_yourself(alice):
    with pytest.raises(ValidationError):
        direct_room_get_or_create(user=alice, other=alice)


# --- belonging --------------------------------------------------------------------------


def test_joining_and_leaving_a_public_room_changes_the_sidebar(lobby, bob):
    assert entry(bob, "lobby") is None
    assert room_join(room=lobby, user=bob) is True
    assert entry(bob, "lobby") is not None
    assert room_leave(room=lobby, user=bob) is True
    assert entry(bob, "lobby") is None


def test_posting_in_a_public_room_joins_it(lobby, bob):
    post(lobby, bob)
    assert entry(bob, "lobby")["last_read_seq"] == 1


def test_private_rooms_belong_by_the_whitelist_and_are_not_joined(secret, bob):
    assert entry(bob, "secret") is None
    services.membership_grant(room=secret, user=bob)
    assert entry(bob, "secret")["kind"] == "private"
    with pytest.raises(NotAllowed):
        room_join(room=secret, user=bob)


def test_the_sidebar_is_latest_activity_first_with_the_peer_of_a_direct_room(
    lobby, secret, alice, bob
):
    dm, _ = direct_room_get_or_create(user=alice, other=bob)
    post(secret, alice)
    post(dm, bob, "hello alice")
    rooms = selectors.my_rooms(user=alice)
    assert [r["slug"] for r in rooms] == [dm.slug, "secret", "lobby"]
    assert rooms[0]["peer"] == {"id": bob.pk, "username": "bob"}
    assert rooms[0]["last_message"]["body"] == "hello alice"
    assert rooms[2]["last_message"] is None and rooms[2]["peer"] is None


# --- read pointers and unread -----------------------------------------------------------


def test_unread_counts_others_messages_after_the_pointer(lobby, alice, bob):
    room_join(room=lobby, user=bob)
    for _ in range(3):
        post(lobby, alice)
    assert entry(bob, "lobby")["unread"] == 3
    assert read_pointer_move(room=lobby, user=bob, seq=2) == (2, 1)
    assert entry(bob, "lobby")["unread"] == 1


def test_own_messages_are_never_unread_and_sending_moves_the_pointer(lobby, alice, bob):
    room_join(room=lobby, user=bob)
    post(lobby, alice)
    post(lobby, bob)
    assert entry(bob, "lobby")["unread"] == 0
    assert entry(bob, "lobby")["last_read_seq"] == 2


def test_deleted_messages_are_never_unread(lobby, alice, bob):
    room_join(room=lobby, user=bob)
    gone = post(lobby, alice)
    post(lobby, alice)
    services.message_delete(message=gone)
    assert entry(bob, "lobby")["unread"] == 1


def test_the_pointer_never_moves_back_nor_past_the_last_seq(lobby, alice, bob):
    post(lobby, alice)
    post(lobby, alice)
    assert read_pointer_move(room=lobby, user=bob, seq=99) == (2, 0)
    assert read_pointer_move(room=lobby, user=bob, seq=1) == (2, 0)
    assert ReadPointer.objects.get(room=lobby, user=bob).seq == 2


def test_a_pointer_move_reaches_every_socket_of_the_user(
    lobby, alice, bob, published, django_capture_on_commit_callbacks
):
    post(lobby, alice)
    post(lobby, alice)
    with django_capture_on_commit_callbacks(execute=True):
        read_pointer_move(room=lobby, user=bob, seq=1)
    assert published.frames(user_topic(bob.pk)) == [
        {"type": "read", "room": "lobby", "seq": 1, "unread": 1}
    ]
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        read_pointer_move(room=lobby, user=bob, seq=1)
    assert published.frames(user_topic(bob.pk)) == []


def test_sending_pushes_the_senders_read_frame(
    lobby, alice, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post(lobby, alice)
    assert published.frames(user_topic(alice.pk)) == [
        {"type": "read", "room": "lobby", "seq": 1, "unread": 0}
    ]


def test_joining_does_not_make_the_past_unread(lobby, alice, bob):
    post(lobby, alice)
    room_join(room=lobby, user=bob)
    assert entry(bob, "lobby")["unread"] == 0


# --- mentions ---------------------------------------------------------------------------


def test_mentioned_names_skip_email_addresses_and_trailing_dots():
    assert mentioned_names("hi @bob. mail me at x@carol.org") >= {"bob"}
    assert "carol.org" not in mentioned_names("x@carol.org")


def test_a_mention_counts_and_notifies_with_a_link_to_the_seq(lobby, alice, bob):
    room_join(room=lobby, user=bob)
    post(lobby, alice, "hello @bob, look")
    assert entry(bob, "lobby")["mentions"] == 1
    note = Notification.objects.get(user=bob)
    assert note.link == "/rooms/lobby/?seq=1" and "alice" in note.title


def test_no_mention_of_yourself_nor_of_a_user_who_may_not_read(secret, alice, bob):
    post(secret, alice, "@alice and @bob")
    assert not Mention.objects.exists()
    assert not Notification.objects.exists()


def test_a_read_mention_no_longer_counts(lobby, alice, bob):
    room_join(room=lobby, user=bob)
    post(lobby, alice, "@bob")
    read_pointer_move(room=lobby, user=bob, seq=1)
    assert entry(bob, "lobby")["mentions"] == 0


def test_a_deleted_mention_no_longer_counts(lobby, alice, bob):
    room_join(room=lobby, user=bob)
    services.message_delete(message=post(lobby, alice, "@bob"))
    assert entry(bob, "lobby")["mentions"] == 0


# --- activity ---------------------------------------------------------------------------


def test_activity_is_one_event_per_message_on_the_rooms_activity_topic(
    lobby, alice, bob, carol, published, django_capture_on_commit_callbacks
):
    room_join(room=lobby, user=bob)
    room_join(room=lobby, user=carol)
    with django_capture_on_commit_callbacks(execute=True):
        post(lobby, alice, "x" * 300)
    (activity,) = published.frames(chat_activity_topic(lobby.pk))
    assert activity["type"] == "activity" and activity["seq"] == 1
    assert len(activity["preview"]) <= 140
    # nothing per member: no member's notify topic carries it
    assert [t for t, e in published if e.kind == "activity"] == [
        chat_activity_topic(lobby.pk)
    ]


def test_joining_and_leaving_tell_the_users_notify_sockets_to_follow_the_room(
    lobby, bob, published, django_capture_on_commit_callbacks
):
    topic = chat_activity_topic(lobby.pk)
    with django_capture_on_commit_callbacks(execute=True):
        room_join(room=lobby, user=bob)
        room_join(room=lobby, user=bob)  # already joined: no second order
        room_leave(room=lobby, user=bob)
        room_leave(room=lobby, user=bob)
    assert published.follows() == [
        (notify_topic(bob.pk), FOLLOW, topic),
        (notify_topic(bob.pk), UNFOLLOW, topic),
    ]


def test_posting_in_a_public_room_joins_it_and_follows_it_once(
    lobby, bob, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post(lobby, bob)
        post(lobby, bob)
    assert published.follows() == [
        (notify_topic(bob.pk), FOLLOW, chat_activity_topic(lobby.pk))
    ]
    assert selectors.user_belongs(room=lobby, user_id=bob.pk)


def test_whitelist_changes_and_direct_rooms_follow_and_unfollow(
    secret, lobby, alice, bob, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.membership_grant(room=secret, user=bob)
        services.membership_revoke(room=secret, user=bob)
        services.membership_grant(room=lobby, user=bob)  # public: belonging is joining
        dm, _ = direct_room_get_or_create(user=alice, other=bob)
    secret_topic, dm_topic = chat_activity_topic(secret.pk), chat_activity_topic(dm.pk)
    assert published.follows() == [
        (notify_topic(bob.pk), FOLLOW, secret_topic),
        (notify_topic(bob.pk), UNFOLLOW, secret_topic),
        (notify_topic(alice.pk), FOLLOW, dm_topic),
        (notify_topic(bob.pk), FOLLOW, dm_topic),
    ]


def test_a_change_of_kind_follows_who_now_belongs_and_unfollows_who_no_longer_does(
    lobby, alice, bob, carol, published, django_capture_on_commit_callbacks
):
    room_join(room=lobby, user=bob)  # belongs while public, not on the whitelist
    services.membership_grant(room=lobby, user=carol)  # on it, never joined
    published.clear()
    topic = chat_activity_topic(lobby.pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.room_update(room=lobby, is_private=True)
    # A set: the order of two users' orders is no part of it (and their topic names
    # sort by text, "notify.user.10" before "notify.user.9").
    assert set(published.follows()) == {
        (notify_topic(bob.pk), UNFOLLOW, topic),
        (notify_topic(carol.pk), FOLLOW, topic),
    }
    assert len(published.follows()) == 2


def test_deleting_a_room_tells_its_activity_topic_to_disband(
    lobby, published, django_capture_on_commit_callbacks
):
    topic = chat_activity_topic(lobby.pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.room_delete(room=lobby)
    assert published.follows() == [(topic, UNFOLLOW, topic)]


# --- the plain model against random histories -------------------------------------------

USERS = ("u0", "u1", "u2")
EXAMPLES = itertools.count()
action = st.one_of(
    st.tuples(st.just("send"), st.integers(0, 2), st.sampled_from(USERS + ("",))),
    st.tuples(st.just("read"), st.integers(0, 2), st.integers(0, 12)),
    st.tuples(st.just("delete"), st.integers(0, 2), st.integers(0, 12)),
    st.tuples(st.just("join"), st.integers(0, 2)),
    st.tuples(st.just("leave"), st.integers(0, 2)),
)


@seed(15)
@given(st.lists(action, max_size=25))
@hsettings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_unread_and_mentions_match_a_plain_model(make_user, actions):
    # Examples share the test's transaction: each gets its own users and room.
    n = next(EXAMPLES)
    users = [make_user(f"{name}-{n}") for name in USERS]
    names = [u.username for u in users]
    room = services.room_create(slug=f"r{n}", name="r")
    # model: seq -> (author, mentioned, deleted); pointer per user; joined set
    messages: dict[int, list[Any]] = {}
    pointer = {i: 0 for i in range(3)}
    joined: set[int] = set()
    stored: dict[int, Any] = {}
    for act in actions:
        who = act[1]
        if act[0] == "send":
            target = names[USERS.index(act[2])] if act[2] else ""
            body = f"hi @{target}" if target else "hi"
            message = post(room, users[who], body)
            mentioned = (
                USERS.index(act[2]) if act[2] and USERS.index(act[2]) != who else None
            )
            messages[message.seq] = [who, mentioned, False]
            stored[message.seq] = message
            pointer[who] = message.seq
            joined.add(who)
        elif act[0] == "read":
            last = max(messages, default=0)
            pointer[who] = max(pointer[who], min(act[2], last))
            read_pointer_move(room=room, user=users[who], seq=act[2])
        elif act[0] == "delete":
            if act[2] in stored and not messages[act[2]][2]:
                services.message_delete(message=stored[act[2]])
                messages[act[2]][2] = True
        elif act[0] == "join":
            if (
                who not in joined
                and not ReadPointer.objects.filter(room=room, user=users[who]).exists()
            ):
                pointer[who] = max(messages, default=0)
            room_join(room=room, user=users[who])
            joined.add(who)
        else:
            room_leave(room=room, user=users[who])
            joined.discard(who)
        for i in range(3):
            got = entry(users[i], room.slug)
            if i not in joined:
                assert got is None
                continue
            after = [m for s, m in messages.items() if s > pointer[i] and not m[2]]
            assert got["last_read_seq"] == pointer[i]
            assert got["unread"] == sum(1 for m in after if m[0] != i)
            assert got["mentions"] == sum(1 for m in after if m[1] == i)


def test_one_message_looks_up_a_bounded_number_of_mentions():
    from chat.services.activity import MENTIONS_MAX

    body = " ".join(f"@user{i}" for i in range(500))
    assert len(mentioned_names(body)) <= 2 * MENTIONS_MAX


def test_the_sidebar_benchmark_reports_and_leaves_nothing_behind():
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("bench_my_rooms", rooms=3, messages=30, runs=2, stdout=out)
    assert "p95" in out.getvalue() and "3 rooms, 30 messages" in out.getvalue()
    assert not Room.objects.filter(slug__startswith="bench-").exists()


def test_a_direct_rooms_name_fits_however_long_the_usernames(make_user):
    one, two = make_user("a" * 150), make_user("b" * 150)
    room, _ = direct_room_get_or_create(user=one, other=two)
    room.full_clean()
    assert len(room.name) == 100
