"""The chat admin with Django's test client: lists, search, actions, the admin log."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from chat import services
from chat.models import Membership, Message, Room
from chat.topics import ROUTE, chat_room_group
from realtime.registry import services as ws_services
from realtime.socket.closecodes import CloseCode

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_() -> Client:
    user = get_user_model().objects.create_superuser(
        username="root", password="pw-root-123"
    )
    client = Client()
    client.force_login(user)
    return client


def open_socket(conn_id: str, user: Any, slug: str) -> None:
    ws_services.connection_open(
        connection_id=conn_id,
        process_id="proc",
        user_id=user.pk,
        route=ROUTE,
        room_key=slug,
        max_per_user=0,
        lease_seconds=30,
    )


def logged(action_flag: int, model: type) -> list[LogEntry]:
    return list(
        LogEntry.objects.filter(
            action_flag=action_flag, content_type__model=model._meta.model_name
        )
    )


def test_room_list_shows_online_users(admin_client_, lobby, alice, bob):
    open_socket("a1", alice, "lobby")
    open_socket("a2", alice, "lobby")
    open_socket("b1", bob, "lobby")
    page = admin_client_.get("/admin/chat/room/")
    assert page.status_code == 200
    assert page.context["cl"].result_list.get(slug="lobby")._online == 2


def test_broadcast_action_asks_for_a_body_then_sends_and_logs(
    admin_client_, lobby, published, django_capture_on_commit_callbacks
):
    form = admin_client_.post(
        "/admin/chat/room/",
        {"action": "broadcast_system", "_selected_action": [lobby.pk]},
    )
    assert form.status_code == 200 and b'name="body"' in form.content
    assert published == []
    with django_capture_on_commit_callbacks(execute=True):
        done = admin_client_.post(
            "/admin/chat/room/",
            {
                "action": "broadcast_system",
                "_selected_action": [lobby.pk],
                "apply": "1",
                "body": "Back in 5 minutes",
            },
        )
    assert done.status_code == 302
    (frame,) = published.frames(chat_room_group(lobby.pk))
    assert frame["type"] == "system" and frame["body"] == "Back in 5 minutes"
    (entry,) = logged(CHANGE, Room)
    assert (
        entry.object_id == str(lobby.pk) and "Back in 5 minutes" in entry.change_message
    )


def test_kick_action_removes_the_member_closes_sockets_and_logs(
    admin_client_, secret, bob, published, django_capture_on_commit_callbacks
):
    services.membership_grant(room=secret, user=bob)
    with django_capture_on_commit_callbacks(execute=True):
        done = admin_client_.post(
            "/admin/chat/room/",
            {
                "action": "kick_user",
                "_selected_action": [secret.pk],
                "apply": "1",
                "username": "bob",
            },
        )
    assert done.status_code == 302
    assert not Membership.objects.filter(room=secret, user=bob).exists()
    assert published.closes() == [
        (chat_room_group(secret.pk), CloseCode.FORBIDDEN, bob.pk)
    ]
    (entry,) = logged(CHANGE, Room)
    assert "Kicked bob" in entry.change_message


def test_kick_action_with_an_unknown_user_asks_again(admin_client_, secret, published):
    page = admin_client_.post(
        "/admin/chat/room/",
        {
            "action": "kick_user",
            "_selected_action": [secret.pk],
            "apply": "1",
            "username": "ghost",
        },
    )
    assert page.status_code == 200 and b"No such user" in page.content
    assert published == [] and not logged(CHANGE, Room)


def test_deleting_messages_tells_the_room_and_logs(
    admin_client_, lobby, alice, published, django_capture_on_commit_callbacks
):
    message, _ = services.message_create(room=lobby, user=alice, body="spam")
    with django_capture_on_commit_callbacks(execute=True):
        done = admin_client_.post(
            "/admin/chat/message/",
            {
                "action": "delete_selected",
                "_selected_action": [message.pk],
                "post": "yes",
            },
        )
    assert done.status_code == 302
    tombstone = Message.objects.get()
    assert (tombstone.body, tombstone.deleted, tombstone.seq) == ("", True, 1)
    frame = published.frames(chat_room_group(lobby.pk))[-1]
    assert frame["type"] == "message_updated"
    assert frame["message"]["id"] == message.pk and frame["message"]["deleted"]
    assert [e.object_id for e in logged(DELETION, Message)] == [str(message.pk)]


def test_deleting_one_message_from_its_page_tells_the_room(
    admin_client_, lobby, alice, published, django_capture_on_commit_callbacks
):
    message, _ = services.message_create(room=lobby, user=alice, body="spam")
    with django_capture_on_commit_callbacks(execute=True):
        done = admin_client_.post(
            f"/admin/chat/message/{message.pk}/delete/", {"post": "yes"}
        )
    assert done.status_code == 302
    assert published.frames()[-1]["type"] == "message_updated"
    assert Message.objects.get().deleted
    assert len(logged(DELETION, Message)) == 1


@pytest.mark.parametrize(
    ("query", "bodies"),
    [
        ("lobby", {"hello", "world"}),
        ("bob", {"world", "elsewhere"}),
        ("hell", {"hello"}),
    ],
)
def test_messages_are_searchable_by_room_user_and_text(
    admin_client_, lobby, alice, bob, query, bodies
):
    other = services.room_create(slug="other")
    services.message_create(room=lobby, user=alice, body="hello")
    services.message_create(room=lobby, user=bob, body="world")
    services.message_create(room=other, user=bob, body="elsewhere")
    page = admin_client_.get("/admin/chat/message/", {"q": query})
    assert {m.body for m in page.context["cl"].result_list} == bodies


def test_live_connections_are_listed_and_filterable_by_room_and_user(
    admin_client_, lobby, alice, bob
):
    open_socket("a1", alice, "lobby")
    open_socket("b1", bob, "other")
    by_room = admin_client_.get("/admin/ws/connection/", {"room_key": "lobby"})
    assert by_room.status_code == 200
    assert [c.id for c in by_room.context["cl"].result_list] == ["a1"]
    by_user = admin_client_.get("/admin/ws/connection/", {"q": "bob"})
    assert [c.id for c in by_user.context["cl"].result_list] == ["b1"]


def test_kicking_from_the_connection_list_closes_that_users_sockets_in_that_room(
    admin_client_, lobby, alice, bob, published, django_capture_on_commit_callbacks
):
    open_socket("a1", alice, "lobby")
    open_socket("b1", bob, "lobby")
    with django_capture_on_commit_callbacks(execute=True):
        done = admin_client_.post(
            "/admin/ws/connection/",
            {"action": "kick_from_room", "_selected_action": ["b1"]},
        )
    assert done.status_code == 302
    assert published.closes() == [
        (chat_room_group(lobby.pk), CloseCode.FORBIDDEN, bob.pk)
    ]
    assert "Kicked bob" in logged(CHANGE, Room)[0].change_message


def test_removing_a_whitelist_entry_inline_closes_that_users_sockets(
    admin_client_, secret, alice, bob, published, django_capture_on_commit_callbacks
):
    services.membership_grant(room=secret, user=bob)
    rows = list(Membership.objects.filter(room=secret).order_by("user__username"))
    data = {
        "name": "Secret",
        "is_private": "on",
        "owner": alice.pk,
        "memberships-TOTAL_FORMS": "2",
        "memberships-INITIAL_FORMS": "2",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        data.update(
            {
                f"memberships-{i}-id": row.pk,
                f"memberships-{i}-room": secret.pk,
                f"memberships-{i}-user": row.user_id,
            }
        )
    data["memberships-1-DELETE"] = "on"  # bob
    with django_capture_on_commit_callbacks(execute=True):
        done = admin_client_.post(f"/admin/chat/room/{secret.pk}/change/", data)
    assert done.status_code == 302, done.context and done.context.get("errors")
    assert list(
        Membership.objects.filter(room=secret).values_list("user__username", flat=True)
    ) == ["alice"]
    assert published.closes() == [
        (chat_room_group(secret.pk), CloseCode.FORBIDDEN, bob.pk)
    ]
    assert "Deleted membership" in logged(CHANGE, Room)[0].get_change_message()


def test_adding_a_room_in_the_admin_puts_its_owner_on_the_whitelist(
    admin_client_, alice
):
    data = {
        "slug": "made",
        "name": "Made",
        "owner": alice.pk,
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    done = admin_client_.post("/admin/chat/room/add/", data)
    assert done.status_code == 302
    room = Room.objects.get(slug="made")
    assert (
        room.owner == alice
        and Membership.objects.filter(room=room, user=alice).exists()
    )


def test_every_chat_admin_page_renders(admin_client_, secret, alice):
    message, _ = services.message_create(room=secret, user=alice, body="hi")
    open_socket("a1", alice, "secret")
    for url in [
        "/admin/chat/room/",
        f"/admin/chat/room/{secret.pk}/change/",
        "/admin/chat/room/add/",
        "/admin/chat/message/",
        f"/admin/chat/message/{message.pk}/change/",
        "/admin/ws/connection/",
        "/admin/ws/connection/a1/change/",
    ]:
        assert admin_client_.get(url).status_code == 200, url


# --- permissions: view-only staff see, and change nothing ----------------------------------


def staff_client(*perms: str) -> Client:
    """A signed-in staff member holding exactly these permissions ("app.codename")."""
    user = get_user_model().objects.create_user(
        username=f"staff-{'-'.join(perms)}", password="pw-staff-123", is_staff=True
    )
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    client = Client()
    client.force_login(user)
    return client


def offered(client: Client, url: str) -> set[str]:
    """The actions the changelist at `url` offers (none at all: no action form)."""
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["action_form"]
    return {name for name, _ in form.fields["action"].choices} if form else set()


VIEWER = ("chat.view_room", "ws.view_connection")


def test_view_only_staff_are_not_offered_the_room_and_connection_actions(lobby):
    viewer = staff_client(*VIEWER)
    assert not {"broadcast_system", "kick_user"} & offered(viewer, "/admin/chat/room/")
    assert "kick_from_room" not in offered(viewer, "/admin/ws/connection/")
    changer = staff_client(*VIEWER, "chat.change_room")
    assert {"broadcast_system", "kick_user"} <= offered(changer, "/admin/chat/room/")
    assert "kick_from_room" in offered(changer, "/admin/ws/connection/")


@pytest.mark.parametrize(
    ("url", "post"),
    [
        (
            "/admin/chat/room/",
            {"action": "broadcast_system", "apply": "1", "body": "Owned"},
        ),
        ("/admin/chat/room/", {"action": "kick_user", "apply": "1", "username": "bob"}),
        ("/admin/ws/connection/", {"action": "kick_from_room"}),
    ],
)
def test_view_only_staff_posting_an_action_change_nothing(
    secret, alice, bob, published, django_capture_on_commit_callbacks, url, post
):
    services.membership_grant(room=secret, user=bob)
    open_socket("b1", bob, "secret")
    selected = ["b1"] if "connection" in url else [secret.pk]
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client(*VIEWER).post(
            url, {**post, "_selected_action": selected}
        )
    assert response.status_code in {200, 302}
    assert published == []
    assert Membership.objects.filter(room=secret, user=bob).exists()
    assert not LogEntry.objects.exists()


# --- conversations: direct rooms and read pointers ------------------------------------------


def test_direct_rooms_show_as_such_with_their_fixed_pair_and_read_pointers(
    admin_client_, alice, bob
):
    from chat.models import Membership, ReadPointer

    room, _ = services.direct_room_get_or_create(user=alice, other=bob)
    services.message_create(room=room, user=alice, body="hi")
    listing = admin_client_.get("/admin/chat/room/?kind__exact=direct")
    assert listing.status_code == 200 and room.slug in listing.content.decode()
    page = admin_client_.get(f"/admin/chat/room/{room.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "two users (fixed)" in text and "alice read to 1" in text
    # Saving the page changes neither the pair nor the kind.
    response = admin_client_.post(
        f"/admin/chat/room/{room.pk}/change/",
        {
            "name": "renamed",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    room.refresh_from_db()
    assert (room.name, room.kind) == ("renamed", "direct")
    assert Membership.objects.filter(room=room).count() == 2
    assert ReadPointer.objects.get(room=room, user=alice).seq == 1
    pointers = admin_client_.get(f"/admin/chat/readpointer/?room__id__exact={room.pk}")
    assert pointers.status_code == 200 and "alice" in pointers.content.decode()


def test_a_messages_page_shows_its_versions_read_only(admin_client_, lobby, alice):
    message, _ = services.message_create(room=lobby, user=alice, body="first take")
    services.message_edit(message=message, user=alice, body="second take")
    page = admin_client_.get(f"/admin/chat/message/{message.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "first take" in text and "second take" in text
    assert 'name="versions-0-body"' not in text  # shown, not editable


def test_the_tombstone_action_deletes_through_the_service(
    admin_client_, lobby, alice, published, django_capture_on_commit_callbacks
):
    message, _ = services.message_create(room=lobby, user=alice, body="spam")
    with django_capture_on_commit_callbacks(execute=True):
        done = admin_client_.post(
            "/admin/chat/message/",
            {"action": "tombstone_selected", "_selected_action": [message.pk]},
        )
    assert done.status_code == 302
    message.refresh_from_db()
    assert message.deleted and message.body == "" and message.rev == 1
    assert published.frames()[-1]["type"] == "message_updated"
