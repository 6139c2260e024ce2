"""Admin: the notifications list with filters, and the user-list "send notification" action."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from notifications import services
from notifications.models import Notification
from realtime.registry.models import Outbox

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(client):
    root = get_user_model().objects.create_superuser("root", password="pw-root-1234")
    client.force_login(root)
    client.root = root
    return client


def test_notification_list_filters_and_search(admin_client_):
    alice = get_user_model().objects.create_user("alice")
    services.notification_create(
        user_id=alice.pk, title="Disk almost full", level="warning"
    )
    n = services.notification_create(user_id=alice.pk, title="Welcome", level="info")
    services.notification_mark_read(notification_id=n.pk, user_id=alice.pk)
    url = "/admin/notifications/notification/"
    resp = admin_client_.get(url)
    assert resp.status_code == 200
    filters = [spec.title for spec in resp.context["cl"].filter_specs]
    assert {"level", "read", "created"} <= set(filters)

    def titles(query: str) -> set[str]:
        page = admin_client_.get(url + query)
        assert page.status_code == 200
        return {n.title for n in page.context["cl"].result_list}

    assert titles("") == {"Disk almost full", "Welcome"}
    assert titles("?level__exact=warning&read=0") == {"Disk almost full"}
    assert titles("?read=1") == {"Welcome"}
    assert titles("?read=0") == {"Disk almost full"}
    assert titles("?q=alice") == {"Disk almost full", "Welcome"}
    assert titles("?q=disk") == {"Disk almost full"}


def test_send_action_asks_for_the_message_then_sends_and_logs_it(
    admin_client_, django_capture_on_commit_callbacks
):
    User = get_user_model()
    alice = User.objects.create_user("alice")
    bob = User.objects.create_user("bob")
    User.objects.create_user("carol")
    url = "/admin/accounts/user/"
    selection = {
        "action": "send_notification_to_users",
        "_selected_action": [alice.pk, bob.pk],
    }

    form = admin_client_.post(url, selection)
    assert form.status_code == 200
    page = form.content.decode()
    assert 'name="title"' in page and 'name="level"' in page and "alice" in page
    assert not Notification.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        done = admin_client_.post(
            url,
            {
                **selection,
                "apply": "yes",
                "title": "Planned downtime",
                "body": "at 3",
                "level": "warning",
            },
        )
    assert done.status_code == 302
    sent = Notification.objects.order_by("user_id")
    assert [(n.user_id, n.title, n.level) for n in sent] == [
        (alice.pk, "Planned downtime", "warning"),
        (bob.pk, "Planned downtime", "warning"),
    ]
    assert Outbox.objects.count() == 2  # pushed after commit
    entries = LogEntry.objects.filter(action_flag=CHANGE, user=admin_client_.root)
    assert sorted(int(e.object_id) for e in entries) == [alice.pk, bob.pk]
    assert all("Planned downtime" in e.get_change_message() for e in entries)


def test_send_action_form_errors_send_nothing(admin_client_):
    alice = get_user_model().objects.create_user("alice")
    resp = admin_client_.post(
        "/admin/accounts/user/",
        {
            "action": "send_notification_to_users",
            "_selected_action": [alice.pk],
            "apply": "yes",
            "title": "",
            "level": "fatal",
        },
    )
    assert resp.status_code == 200
    assert "This field is required" in resp.content.decode()
    assert not Notification.objects.exists()


def staff_with(*codenames: str):
    """A signed-in client of a staff member holding these auth/notifications perms."""
    user = get_user_model().objects.create_user(
        f"ops-{'-'.join(codenames)}", is_staff=True
    )
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(user)
    return client


def offered(client) -> set[str]:
    """The actions of the user list (none at all: no action form)."""
    page = client.get("/admin/accounts/user/")
    assert page.status_code == 200
    form = page.context["action_form"]
    return {name for name, _ in form.fields["action"].choices} if form else set()


def test_staff_who_may_not_add_notifications_are_not_offered_the_send_action():
    viewer = staff_with("view_user", "view_notification")
    assert "send_notification_to_users" not in offered(viewer)
    sender = staff_with("view_user", "add_notification")
    assert "send_notification_to_users" in offered(sender)


def test_staff_who_may_not_add_notifications_posting_the_send_action_send_nothing():
    alice = get_user_model().objects.create_user("alice")
    viewer = staff_with("view_user", "view_notification")
    viewer.post(
        "/admin/accounts/user/",
        {
            "action": "send_notification_to_users",
            "_selected_action": [alice.pk],
            "apply": "yes",
            "title": "Owned",
            "level": "info",
        },
    )
    assert not Notification.objects.exists()
    assert not Outbox.objects.exists()


def test_the_send_action_refuses_an_unsafe_link(admin_client_):
    alice = get_user_model().objects.create_user("alice")
    resp = admin_client_.post(
        "/admin/accounts/user/",
        {
            "action": "send_notification_to_users",
            "_selected_action": [alice.pk],
            "apply": "yes",
            "title": "Click",
            "level": "info",
            "link": "javascript:alert(document.cookie)",
        },
    )
    assert resp.status_code == 200
    assert "http(s) URL" in resp.content.decode()
    assert not Notification.objects.exists()
