"""Messages that change (PROTOCOL.md 10): edits, tombstones, reactions, replies, rev."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from chat import selectors, services
from chat.errors import (
    MessageDeleted,
    MessageGone,
    NotAllowed,
    NotPermitted,
    TooManyReactions,
)
from chat.models import DeletedSeq, Mention, Message, MessageVersion, Reaction, Room
from chat.services.conversations import room_join
from chat.topics import chat_room_group

pytestmark = pytest.mark.django_db


def post(room: Room, user: Any, body: str = "hi", **kw: Any) -> Message:
    message, _ = services.message_create(room=room, user=user, body=body, **kw)
    return message


def rev_of(room: Room) -> int:
    return Room.objects.get(pk=room.pk).rev


def state(room: Room, message: Message) -> dict[str, Any]:
    frame = selectors.message_state(room=room, message_id=message.pk)
    assert frame is not None
    return frame


# --- edit ---------------------------------------------------------------------------------


def test_an_edit_replaces_the_body_keeps_the_old_one_and_bumps_rev(lobby, alice):
    message = post(lobby, alice, "helo")
    frame = services.message_edit(message=message, user=alice, body=" hello ")
    assert frame["body"] == "hello" and frame["edited"] is not None
    assert frame["rev"] == 1 == rev_of(lobby)
    [version] = MessageVersion.objects.filter(message=message)
    assert version.body == "helo" and version.created == message.created
    services.message_edit(message=message, user=alice, body="hello!")
    bodies = [v["body"] for v in selectors.message_versions(message=message)[0]]
    assert bodies == ["helo", "hello"]
    assert state(lobby, message)["rev"] == 2 == rev_of(lobby)


def test_the_second_version_was_written_when_the_first_edit_was_made(lobby, alice):
    message = post(lobby, alice, "one")
    services.message_edit(message=message, user=alice, body="two")
    edited = Message.objects.get(pk=message.pk).edited
    services.message_edit(message=message, user=alice, body="three")
    assert MessageVersion.objects.order_by("id").last().created == edited


def test_only_the_author_edits(lobby, alice, bob):
    message = post(lobby, alice)
    for someone in (bob,):
        with pytest.raises(NotPermitted):
            services.message_edit(message=message, user=someone, body="mine now")
    assert Message.objects.get(pk=message.pk).body == "hi" and rev_of(lobby) == 0


def test_the_room_owner_and_staff_may_not_edit_anothers_message(lobby, alice, bob):
    message = post(lobby, bob)
    staff = type(alice).objects.create_user(username="root", is_staff=True)
    for someone in (alice, staff):  # alice owns the lobby
        with pytest.raises(NotPermitted):
            services.message_edit(message=message, user=someone, body="x")


def test_an_edit_to_the_same_body_changes_nothing(
    lobby, alice, published, django_capture_on_commit_callbacks
):
    message = post(lobby, alice, "same")
    with django_capture_on_commit_callbacks(execute=True):
        services.message_edit(message=message, user=alice, body="same ")
    assert rev_of(lobby) == 0 and not MessageVersion.objects.exists()
    assert [f["type"] for f in published.frames(chat_room_group(lobby.pk))] == []


def test_an_empty_or_oversized_edit_is_a_body_field_error(lobby, alice, settings):
    message = post(lobby, alice)
    for body in ("  ", "x" * (settings.WS_MAX_BODY_CHARS + 1)):
        with pytest.raises(ValidationError) as caught:
            services.message_edit(message=message, user=alice, body=body)
        assert "body" in caught.value.message_dict


def test_a_deleted_message_cannot_be_edited_nor_reacted_to(lobby, alice):
    message = post(lobby, alice)
    services.message_delete(message=message, by=alice)
    with pytest.raises(MessageDeleted):
        services.message_edit(message=message, user=alice, body="back")
    with pytest.raises(MessageDeleted):
        services.reaction_toggle(message=message, user=alice, emoji="x")


def test_a_change_of_a_message_whose_room_is_gone_is_message_gone(lobby, alice):
    message = post(lobby, alice)
    services.room_delete(room=lobby)
    with pytest.raises(MessageGone):
        services.message_edit(message=message, user=alice, body="x")


# --- delete -------------------------------------------------------------------------------


def test_a_delete_leaves_a_tombstone_with_the_same_id_and_seq(lobby, alice, bob):
    post(lobby, alice, "first")
    message = post(lobby, alice, "@bob look", reply_to=None)
    services.reaction_toggle(message=message, user=bob, emoji="+1")
    frame = services.message_delete(message=message, by=alice)
    assert (frame["id"], frame["seq"]) == (message.pk, 2)
    assert frame["body"] == "" and frame["deleted"] is True
    assert frame["reactions"] == [] and frame["reply_to"] is None
    assert not Reaction.objects.filter(message=message).exists()
    assert not Mention.objects.filter(message=message).exists()
    assert DeletedSeq.objects.filter(room=lobby, seq=2).exists()
    assert frame["rev"] == 2 == rev_of(lobby)
    assert state(lobby, message) == frame
    # The body is kept for the moderation trail (author, owner, staff).
    assert [v["body"] for v in selectors.message_versions(message=message)[0]] == [
        "@bob look"
    ]


def test_a_tombstone_answering_a_message_shows_no_reply(lobby, alice):
    first = post(lobby, alice, "q")
    answer = post(lobby, alice, "a", reply_to=first.pk)
    assert state(lobby, answer)["reply_to"]["id"] == first.pk
    services.message_delete(message=answer, by=alice)
    assert state(lobby, answer)["reply_to"] is None


def test_author_room_owner_and_staff_delete_and_no_one_else(lobby, alice, bob, carol):
    staff = type(alice).objects.create_user(username="root", is_staff=True)
    mine, owners, staffs, other = (post(lobby, bob) for _ in range(4))
    with pytest.raises(NotPermitted):
        services.message_delete(message=other, by=carol)
    services.message_delete(message=mine, by=bob)
    services.message_delete(message=owners, by=alice)  # alice owns the lobby
    services.message_delete(message=staffs, by=staff)
    deleted = set(Message.objects.filter(deleted=True).values_list("pk", flat=True))
    assert deleted == {mine.pk, owners.pk, staffs.pk}


def test_deleting_a_tombstone_again_changes_nothing(lobby, alice):
    message = post(lobby, alice)
    services.message_delete(message=message, by=alice)
    services.message_delete(message=message, by=alice)
    assert rev_of(lobby) == 1 and DeletedSeq.objects.count() == 1


def test_unread_counts_skip_a_tombstone(lobby, alice, bob):
    room_join(room=lobby, user=bob)
    gone = post(lobby, alice)
    post(lobby, alice)
    services.message_delete(message=gone, by=alice)
    assert selectors.read_state(room_id=lobby.pk, user_id=bob.pk) == (0, 1)


# --- reactions ----------------------------------------------------------------------------


def test_a_reaction_toggles_and_lists_users_by_first_reaction(lobby, alice, bob):
    message = post(lobby, alice)
    services.reaction_toggle(message=message, user=bob, emoji="+1")
    services.reaction_toggle(message=message, user=alice, emoji="\u2764")
    frame = services.reaction_toggle(message=message, user=alice, emoji="+1")
    assert frame["reactions"] == [
        {"emoji": "+1", "count": 2, "users": [bob.pk, alice.pk]},
        {"emoji": "\u2764", "count": 1, "users": [alice.pk]},
    ]
    frame = services.reaction_toggle(message=message, user=bob, emoji="+1")
    # Ordered by each emoji's oldest reaction standing: alice's +1 came after her heart.
    assert frame["reactions"] == [
        {"emoji": "\u2764", "count": 1, "users": [alice.pk]},
        {"emoji": "+1", "count": 1, "users": [alice.pk]},
    ]
    assert frame["rev"] == 4 == rev_of(lobby)


def test_on_true_or_false_sets_rather_than_toggles(lobby, alice):
    message = post(lobby, alice)
    services.reaction_toggle(message=message, user=alice, emoji="x", on=True)
    services.reaction_toggle(message=message, user=alice, emoji="x", on=True)
    assert Reaction.objects.count() == 1 and rev_of(lobby) == 1
    services.reaction_toggle(message=message, user=alice, emoji="x", on=False)
    services.reaction_toggle(message=message, user=alice, emoji="x", on=False)
    assert Reaction.objects.count() == 0 and rev_of(lobby) == 2


@pytest.mark.parametrize("emoji", ["", "a b", "\t", "x" * 17, "a\x00"])
def test_a_bad_emoji_is_an_emoji_field_error(lobby, alice, emoji):
    message = post(lobby, alice)
    with pytest.raises(ValidationError) as caught:
        services.reaction_toggle(message=message, user=alice, emoji=emoji)
    assert "emoji" in caught.value.message_dict


def test_sixteen_characters_is_an_emoji(lobby, alice):
    message = post(lobby, alice)
    frame = services.reaction_toggle(message=message, user=alice, emoji="x" * 16)
    assert frame["reactions"][0]["emoji"] == "x" * 16


def test_a_message_carries_at_most_20_distinct_emoji(lobby, alice, bob):
    message = post(lobby, alice)
    for n in range(20):
        services.reaction_toggle(message=message, user=alice, emoji=f"e{n}")
    with pytest.raises(TooManyReactions):
        services.reaction_toggle(message=message, user=alice, emoji="e20")
    # One already there can still be added to by others.
    frame = services.reaction_toggle(message=message, user=bob, emoji="e0")
    assert frame["reactions"][0]["count"] == 2 and len(frame["reactions"]) == 20


def test_a_reaction_lists_at_most_100_users_and_counts_them_all(lobby, alice):
    message = post(lobby, alice)
    users = type(alice).objects.bulk_create(
        [type(alice)(username=f"u{n}") for n in range(101)]
    )
    Reaction.objects.bulk_create(
        [Reaction(message=message, user=u, emoji="+1") for u in users]
    )
    Message.objects.filter(pk=message.pk).update(rev=1)
    [reaction] = state(lobby, message)["reactions"]
    assert reaction["count"] == 101 and len(reaction["users"]) == 100


def test_only_users_allowed_in_the_room_react(secret, alice, bob):
    message = post(secret, alice)
    with pytest.raises(NotAllowed):
        services.reaction_toggle(message=message, user=bob, emoji="+1")


# --- events -------------------------------------------------------------------------------


def test_each_change_goes_to_the_room_after_commit_without_a_seq(
    lobby, alice, bob, published, django_capture_on_commit_callbacks
):
    message = post(lobby, alice, "one")
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.message_edit(message=message, user=alice, body="two")
        assert list(published) == []  # nothing before the commit
    with django_capture_on_commit_callbacks(execute=True):
        services.reaction_toggle(message=message, user=bob, emoji="+1")
    with django_capture_on_commit_callbacks(execute=True):
        services.message_delete(message=message, by=alice)
    assert {t for t, _ in published} == {chat_room_group(lobby.pk)}
    assert {(e.kind, e.seq) for _, e in published} == {("message_updated", None)}
    frames = [f["message"] for f in published.frames()]
    assert [(f["rev"], f["body"], len(f["reactions"])) for f in frames] == [
        (1, "two", 0),
        (2, "two", 1),
        (3, "", 0),
    ]


# --- replies ------------------------------------------------------------------------------


def test_a_reply_carries_the_answered_message(lobby, alice, bob):
    question = post(lobby, alice, "where  is\nit?")
    answer = post(lobby, bob, "here", reply_to=question.pk)
    assert answer.reply_to_id == question.pk
    expected = {
        "id": question.pk,
        "seq": 1,
        "user": {"id": alice.pk, "username": "alice"},
        "preview": "where is it?",
    }
    assert state(lobby, answer)["reply_to"] == expected
    page, _ = selectors.messages_page(room=lobby, limit=10)
    assert page[1]["reply_to"] == expected


def test_a_reply_to_a_message_of_another_room_or_none_is_refused(lobby, alice):
    other = services.room_create(slug="other", name="Other")
    elsewhere = post(other, alice)
    for target in (elsewhere.pk, 10**9):
        with pytest.raises(ValidationError) as caught:
            post(lobby, alice, "x", reply_to=target)
        assert "reply_to" in caught.value.message_dict
    assert Room.objects.get(pk=lobby.pk).last_seq == 0


def test_the_fresh_message_frame_needs_no_query_beyond_the_send(
    lobby, alice, published, django_capture_on_commit_callbacks
):
    question = post(lobby, alice, "q")
    with django_capture_on_commit_callbacks(execute=True):
        post(lobby, alice, "a", reply_to=question.pk)
    frame = published.frames(chat_room_group(lobby.pk))[-1]
    assert frame["reply_to"]["id"] == question.pk and frame["reactions"] == []


# --- pages and changes --------------------------------------------------------------------


def test_a_page_decorates_in_two_queries_whatever_its_size(
    lobby, alice, bob, django_assert_max_num_queries
):
    first = post(lobby, alice)
    for n in range(30):
        m = post(lobby, alice, f"m{n}", reply_to=first.pk)
        services.reaction_toggle(message=m, user=bob, emoji="+1")
    with django_assert_max_num_queries(3):
        page, _ = selectors.messages_page(room=lobby, limit=50)
    assert all(f["reactions"] for f in page[1:])


def test_an_unchanged_page_costs_one_query(lobby, alice, django_assert_num_queries):
    for n in range(5):
        post(lobby, alice, f"m{n}")
    with django_assert_num_queries(1):
        selectors.messages_page(room=lobby, limit=50)


def test_changes_are_those_after_rev_at_or_before_since_oldest_change_first(
    lobby, alice
):
    messages = [post(lobby, alice, f"m{n}") for n in range(5)]
    services.message_edit(message=messages[3], user=alice, body="x")  # rev 1
    services.message_edit(message=messages[0], user=alice, body="y")  # rev 2
    services.message_edit(message=messages[4], user=alice, body="z")  # rev 3
    services.message_edit(message=messages[1], user=alice, body="w")  # rev 4
    changes, complete = selectors.room_changes(room=lobby, since=4, rev=1)
    assert [(c["seq"], c["rev"]) for c in changes] == [(1, 2), (2, 4)]
    assert complete is True
    page, more = selectors.changes_page(room=lobby, rev=0, limit=3)
    assert [c["rev"] for c in page] == [1, 2, 3] and more is True


def test_changes_stop_at_500_and_say_so(lobby, alice, monkeypatch):
    monkeypatch.setattr(selectors, "CHANGES_MAX", 2)
    messages = [post(lobby, alice, f"m{n}") for n in range(3)]
    for message in messages:
        services.message_edit(message=message, user=alice, body="e")
    changes, complete = selectors.room_changes(room=lobby, since=3, rev=0)
    assert len(changes) == 2 and complete is False


# --- mentions follow the body -------------------------------------------------------------


def test_an_edit_restates_mentions_notifying_only_who_is_named_anew(lobby, alice, bob):
    from notifications.models import Notification

    room_join(room=lobby, user=bob)
    message = post(lobby, alice, "lunch?")
    assert not Mention.objects.exists()
    services.message_edit(message=message, user=alice, body="lunch, @bob?")
    [mention] = Mention.objects.all()
    assert (mention.user_id, mention.seq) == (bob.pk, message.seq)
    assert Notification.objects.filter(user=bob).count() == 1
    services.message_edit(message=message, user=alice, body="lunch, @bob? now")
    assert Notification.objects.filter(user=bob).count() == 1  # not told twice
    [entry] = [e for e in selectors.my_rooms(user=bob) if e["slug"] == "lobby"]
    assert entry["mentions"] == 1
    services.message_edit(message=message, user=alice, body="lunch?")
    assert not Mention.objects.exists()
    [entry] = [e for e in selectors.my_rooms(user=bob) if e["slug"] == "lobby"]
    assert entry["mentions"] == 0


def test_an_author_taken_off_the_whitelist_can_no_longer_edit_or_delete(secret, bob):
    services.membership_grant(room=secret, user=bob)
    message = post(secret, bob, "mine")
    services.membership_revoke(room=secret, user=bob)
    with pytest.raises(NotAllowed):
        services.message_edit(message=message, user=bob, body="changed")
    with pytest.raises(NotAllowed):
        services.message_delete(message=message, by=bob)
    # The room's owner still moderates it.
    owner = Room.objects.get(pk=secret.pk).owner
    assert services.message_delete(message=message, by=owner)["deleted"] is True


def test_a_deleted_or_edited_mention_leaves_no_copy_of_the_text_in_the_bell(
    lobby, alice, bob, carol
):
    from notifications.models import Notification

    secret = post(lobby, alice, "@bob @carol the code is 1234")
    assert Notification.objects.filter(user__in=[bob, carol]).count() == 2
    services.message_edit(message=secret, user=alice, body="@bob the code is ****")
    assert not Notification.objects.filter(user=carol).exists()  # no longer named
    [kept] = Notification.objects.filter(user=bob)
    assert "1234" not in kept.body and "****" in kept.body
    services.message_delete(message=secret, by=alice)
    assert not Notification.objects.filter(user__in=[bob, carol]).exists()


def test_versions_answer_the_newest_hundred_and_say_older_ones_exist(lobby, alice):
    message = post(lobby, alice, "v0")
    for i in range(1, 6):
        services.message_edit(message=message, user=alice, body=f"v{i}")
    versions, more = selectors.message_versions(message=message, limit=3)
    assert [v["body"] for v in versions] == ["v2", "v3", "v4"] and more
    versions, more = selectors.message_versions(message=message)
    assert len(versions) == 5 and not more


@pytest.mark.parametrize("emoji", ["\u200b", "a\u202eb", "x\x07", "\u2066ok"])
def test_a_reaction_that_would_show_blank_or_reorder_text_is_refused(
    lobby, alice, emoji
):
    message = post(lobby, alice)
    with pytest.raises(ValidationError):
        services.reaction_toggle(message=message, user=alice, emoji=emoji)


@pytest.mark.parametrize("emoji", ["❤️", "👩\u200d💻", "👍🏽", "+1"])
def test_emoji_sequences_with_joiners_and_selectors_are_reactions(lobby, alice, emoji):
    message = post(lobby, alice)
    frame = services.reaction_toggle(message=message, user=alice, emoji=emoji)
    assert frame["reactions"][0]["emoji"] == emoji


def test_an_operator_shows_and_deletes_a_message_by_seq_through_the_service(
    lobby, alice, published, django_capture_on_commit_callbacks
):
    from io import StringIO

    from django.core.management import CommandError, call_command

    message = post(lobby, alice, "oops")
    services.message_edit(message=message, user=alice, body="oops!")
    out = StringIO()
    call_command("message", "show", "lobby", str(message.seq), stdout=out)
    assert "'oops!'" in out.getvalue() and "was 'oops'" in out.getvalue()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("message", "delete", "lobby", str(message.seq), stdout=StringIO())
    assert state(lobby, message)["deleted"] is True
    updated = published.frames(chat_room_group(lobby.pk))[-1]
    assert updated["type"] == "message_updated" and updated["message"]["body"] == ""
    with pytest.raises(CommandError, match="no message #99"):
        call_command("message", "delete", "lobby", "99")
