"""Room settings (issue 15): topic, archive, and the `room` frame, by service and REST."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from rest_framework.test import APIClient

from chat import services
from chat.errors import RoomArchived
from chat.models import Message, Room
from chat.topics import chat_room_group
from integrations import services as integrations
from tests.rest import api_error

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def archive(room: Room, on: bool = True) -> Room:
    return services.room_update(room=Room.objects.get(pk=room.pk), archived=on)


# --- service -------------------------------------------------------------------------


def test_archiving_stamps_the_time_and_unarchiving_clears_it(lobby):
    room = archive(lobby)
    assert room.archived is not None
    stamped = Room.objects.get(pk=lobby.pk).archived
    assert stamped == room.archived
    # Archiving again keeps the first stamp.
    assert archive(lobby).archived == stamped
    assert archive(lobby, False).archived is None
    assert Room.objects.get(pk=lobby.pk).archived is None


def test_an_archived_room_refuses_new_messages_and_stores_nothing(lobby, alice):
    services.message_create(room=lobby, user=alice, body="before")
    archive(lobby)
    with pytest.raises(RoomArchived):
        services.message_create(room=lobby, user=alice, body="after")
    assert list(Message.objects.values_list("body", flat=True)) == ["before"]
    assert Room.objects.get(pk=lobby.pk).last_seq == 1


def test_a_batch_refuses_only_its_sends_to_archived_rooms(lobby, secret, alice):
    archive(secret)
    outcomes = services.messages_create(
        [services.Send(secret, alice, "no"), services.Send(lobby, alice, "yes")]
    )
    assert isinstance(outcomes[0], RoomArchived)
    assert outcomes[1][0].body == "yes" and outcomes[1][1] is True


def test_a_resend_into_an_archived_room_is_refused_like_any_send(lobby, alice):
    # As a revoked user's resend is: the first pass does not look resends up (rare),
    # and the room's state answers before the unique index would.
    services.message_create(room=lobby, user=alice, body="hi", client_id="c1")
    archive(lobby)
    with pytest.raises(RoomArchived):
        services.message_create(room=lobby, user=alice, body="hi", client_id="c1")
    assert Message.objects.count() == 1


def test_unarchiving_restores_posting(lobby, alice):
    archive(lobby)
    archive(lobby, False)
    message, created = services.message_create(room=lobby, user=alice, body="back")
    assert created and message.seq == 1


def test_the_topic_is_at_most_250_characters(lobby):
    services.room_update(room=lobby, topic="t" * 250)
    with pytest.raises(ValidationError) as caught:
        services.room_update(room=lobby, topic="t" * 251)
    assert "topic" in caught.value.message_dict
    assert Room.objects.get(pk=lobby.pk).topic == "t" * 250


def test_a_settings_change_sends_one_room_frame_to_the_room(
    lobby, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.room_update(room=lobby, name="Hall", topic="All hands")
    frames = published.frames(chat_room_group(lobby.pk))
    assert frames == [
        {
            "type": "room",
            "room": {
                "slug": "lobby",
                "name": "Hall",
                "topic": "All hands",
                "kind": "public",
                "archived": None,
            },
        }
    ]


def test_a_change_that_changes_nothing_sends_no_frame(
    lobby, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.room_update(room=lobby, name="Lobby", archived=False)
    assert published.frames() == []


def test_room_update_works_from_the_stored_row_not_a_stale_copy(lobby):
    stale = Room.objects.get(pk=lobby.pk)
    services.room_update(room=lobby, topic="set elsewhere")
    services.room_update(room=stale, name="Hall")
    room = Room.objects.get(pk=lobby.pk)
    assert (room.name, room.topic) == ("Hall", "set elsewhere")


# --- REST ------------------------------------------------------------------------------


def test_the_owner_sets_the_topic_and_archives_with_patch(lobby, alice):
    response = client_for(alice).patch(
        "/api/rooms/lobby/", {"topic": "Release 2.0", "archived": True}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["topic"] == "Release 2.0"
    assert isinstance(body["archived"], str) and body["archived"].endswith("Z")
    fetched = client_for(alice).get("/api/rooms/lobby/").json()
    assert (fetched["topic"], fetched["archived"]) == ("Release 2.0", body["archived"])
    unarchived = client_for(alice).patch(
        "/api/rooms/lobby/", {"archived": False, "topic": ""}, format="json"
    )
    assert unarchived.json()["archived"] is None
    assert unarchived.json()["topic"] == ""


def test_a_topic_over_250_characters_is_a_400_naming_topic(lobby, alice):
    response = client_for(alice).patch(
        "/api/rooms/lobby/", {"topic": "t" * 251}, format="json"
    )
    assert "topic" in api_error(response, 400, "invalid")
    assert Room.objects.get(pk=lobby.pk).topic == ""


@pytest.mark.parametrize(
    "body, field", [({"archived": "yes"}, "archived"), ({"topic": 5}, "topic")]
)
def test_a_settings_change_of_the_wrong_type_is_a_400(lobby, alice, body, field):
    response = client_for(alice).patch("/api/rooms/lobby/", body, format="json")
    assert field in api_error(response, 400, "invalid")


def test_only_the_owner_sets_the_topic_or_archives(lobby, bob):
    for body in ({"topic": "mine"}, {"archived": True}):
        response = client_for(bob).patch("/api/rooms/lobby/", body, format="json")
        api_error(response, 403, "permission_denied")
    room = Room.objects.get(pk=lobby.pk)
    assert (room.topic, room.archived) == ("", None)


def test_a_direct_rooms_settings_are_refused_to_both_its_users(alice, bob):
    slug = client_for(alice).post("/api/dms/", {"username": "bob"}).json()["slug"]
    for who in (alice, bob):
        response = client_for(who).patch(
            f"/api/rooms/{slug}/", {"topic": "us"}, format="json"
        )
        api_error(response, 403, "permission_denied")


def test_a_rest_post_to_an_archived_room_is_a_403(lobby, alice):
    archive(lobby)
    response = client_for(alice).post(
        "/api/rooms/lobby/messages/", {"body": "hi"}, format="json"
    )
    api_error(response, 403, "permission_denied")
    assert "archived" in response.json()["detail"]
    assert not Message.objects.exists()


def test_the_server_api_publish_to_an_archived_room_is_a_403(lobby, alice):
    archive(lobby)
    _, key = integrations.api_key_create(name="ops", scopes=["publish"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    response = client.post(
        "/api/server/publish/",
        {"room": "lobby", "body": "hi", "username": "alice"},
        format="json",
    )
    api_error(response, 403, "permission_denied")
    assert not Message.objects.exists()


def test_joining_an_archived_public_room_is_allowed(lobby, bob):
    archive(lobby)
    response = client_for(bob).post("/api/rooms/lobby/join/")
    assert response.status_code == 204


def test_the_broadcast_command_as_a_user_refuses_an_archived_room(lobby, alice):
    from django.core.management import CommandError

    archive(lobby)
    with pytest.raises(CommandError, match="archived"):
        call_command("broadcast", "lobby", "hi", "--as", "alice")
    assert not Message.objects.exists()


# --- admin -----------------------------------------------------------------------------


@pytest.fixture
def admin_client_() -> Any:
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_superuser(
        username="root", password="pw-root-123"
    )
    client = Client()
    client.force_login(user)
    return client


def change_form(room: Room, **fields: Any) -> dict[str, Any]:
    data = {
        "name": room.name,
        "topic": room.topic,
        "owner": room.owner_id or "",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        **fields,
    }
    if room.is_private:
        data["is_private"] = "on"
    return data


def test_the_admin_sets_the_topic_and_archives_through_the_service(
    admin_client_, lobby, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        done = admin_client_.post(
            f"/admin/chat/room/{lobby.pk}/change/",
            change_form(
                lobby,
                topic="Ops",
                archived_0="2020-01-01",
                archived_1="00:00:00",
            ),
        )
    assert done.status_code == 302, done.context and done.context.get("errors")
    room = Room.objects.get(pk=lobby.pk)
    assert room.topic == "Ops" and room.archived is not None
    [frame] = published.frames(chat_room_group(lobby.pk))
    assert frame["room"]["topic"] == "Ops" and frame["room"]["archived"]
    done = admin_client_.post(
        f"/admin/chat/room/{lobby.pk}/change/",
        change_form(room, archived_0="", archived_1=""),
    )
    assert done.status_code == 302
    assert Room.objects.get(pk=lobby.pk).archived is None


def test_the_admin_refuses_a_topic_over_250_characters(admin_client_, lobby):
    page = admin_client_.post(
        f"/admin/chat/room/{lobby.pk}/change/", change_form(lobby, topic="t" * 251)
    )
    assert page.status_code == 200 and "topic" in page.context["adminform"].errors
    assert Room.objects.get(pk=lobby.pk).topic == ""


def test_the_admin_lists_rooms_by_archived_and_archives_with_actions(
    admin_client_, lobby, secret
):
    done = admin_client_.post(
        "/admin/chat/room/",
        {"action": "archive_rooms", "_selected_action": [secret.pk]},
    )
    assert done.status_code == 302
    assert Room.objects.get(pk=secret.pk).archived is not None

    def listed(query: str) -> list[str]:
        page = admin_client_.get(f"/admin/chat/room/?{query}")
        return sorted(r.slug for r in page.context["cl"].result_list)

    assert listed("archived=yes") == ["secret"]
    assert listed("archived=no") == ["lobby"]
    admin_client_.post(
        "/admin/chat/room/",
        {"action": "unarchive_rooms", "_selected_action": [secret.pk]},
    )
    assert listed("archived=yes") == []


# --- manage.py room ----------------------------------------------------------------------


def run(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_the_room_command_archives_and_unarchives_and_the_room_hears_it(
    lobby, alice, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        out = run("room", "archive", "lobby")
    assert "archived since" in out
    assert Room.objects.get(pk=lobby.pk).archived is not None
    [frame] = published.frames(chat_room_group(lobby.pk))
    assert frame["type"] == "room" and frame["room"]["archived"]
    with pytest.raises(RoomArchived):
        services.message_create(room=lobby, user=alice, body="no")
    assert "open" in run("room", "unarchive", "lobby")
    services.message_create(room=lobby, user=alice, body="yes")


def test_the_room_command_sets_the_topic_and_renames(lobby):
    run("room", "topic", "lobby", "Daily standup")
    run("room", "rename", "lobby", "Hall")
    room = Room.objects.get(pk=lobby.pk)
    assert (room.name, room.topic) == ("Hall", "Daily standup")


def test_the_room_command_says_what_is_wrong(lobby):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="no such room"):
        run("room", "archive", "nope")
    with pytest.raises(CommandError, match="250"):
        run("room", "topic", "lobby", "t" * 251)


def test_an_archived_room_refuses_edits_and_reactions_but_not_deletes(lobby, alice):
    message, _ = services.message_create(room=lobby, user=alice, body="hi")
    archive(lobby)
    with pytest.raises(RoomArchived):
        services.message_edit(message=message, user=alice, body="changed")
    with pytest.raises(RoomArchived):
        services.reaction_toggle(message=message, user=alice, emoji="ok")
    # Taking a message back (or moderating it) still goes through.
    assert services.message_delete(message=message, by=alice)["deleted"] is True
