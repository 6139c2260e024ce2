"""The browser UI in real headless Chromium against real `manage.py serve` processes.

Every server here runs with DJANGO_DEBUG=0 (the test default), so the pages, the
client module and the stylesheet are served by whitenoise from the finders, without
collectstatic; one test checks the debug mode too.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests import harness

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

#: README's screenshots are taken again only when asked (UPDATE_SCREENSHOTS=1): a test run
#: leaves the checkout as it found it
SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "realtime-screenshots"
)
WAIT = 20_000  # ms: any single wait, on a shared 2-core machine
expect.set_options(timeout=WAIT)


# ---- helpers ------------------------------------------------------------------------------


#: Reports every Content-Security-Policy violation of a page to its console.
CSP_WATCH = """
document.addEventListener('securitypolicyviolation', (e) => {
  console.error(`CSP violation: ${e.effectiveDirective} blocked ${e.blockedURI}`);
});
"""


def watched(page: Page) -> Page:
    """`page.errors` collects its uncaught exceptions and CSP violations: a test fails on any."""
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: (
            page.errors.append(msg.text)
            if "Content Security Policy" in msg.text or "CSP violation" in msg.text
            else None
        ),
    )
    page.add_init_script(CSP_WATCH)
    return page


def signed_in(
    new_context, server: harness.Server, username: str, path: str = "/"
) -> Page:
    """A new browser context signed in as `username` through the login form, at `path`."""
    context = new_context(
        base_url=server.url,
        viewport={"width": 1280, "height": 760},
        device_scale_factor=1,
    )
    page = watched(context.new_page())
    page.goto("/login/?next=" + path)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(harness.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(server.url + path) + "$"))
    return page


def open_room(new_context, server: harness.Server, username: str, slug: str) -> Page:
    page = signed_in(new_context, server, username, f"/rooms/{slug}/")
    expect(page.locator("[data-conn-text]")).to_have_text("Live")
    return page


def say(page: Page, text: str) -> None:
    box = page.get_by_label(re.compile("^Message [#@]"))
    box.fill(text)
    box.press("Enter")


def bodies(page: Page) -> list[str]:
    return page.locator("[data-messages] .msg__body").all_text_contents()


def online(page: Page):
    return page.locator("[data-online] .person__name")


def make_room(
    server: harness.Server, owner: harness.User, slug: str, *, private: bool = False
) -> None:
    status, body = server.api.post(
        "/api/rooms/",
        {"slug": slug, "name": slug.replace("-", " ").title(), "is_private": private},
        token=owner.access,
    )
    assert status == 201, (status, body)


def post_message(
    server: harness.Server, user: harness.User, slug: str, body: str
) -> None:
    status, answer = server.api.post(
        f"/api/rooms/{slug}/messages/", {"body": body}, token=user.access
    )
    assert status == 201, (status, answer)


def notify(
    server: harness.Server, user: harness.User, *items: tuple[str, str, str]
) -> None:
    """Store and push notifications (title, body, level), in order, from one process."""
    server.manage(
        "shell",
        "-c",
        "from notifications.services import notification_create\n"
        f"for title, body, level in {list(items)!r}:\n"
        f"    notification_create(user_id={user.id}, title=title, body=body, level=level)",
    )


def until_live(page: Page, deadline: float) -> None:
    """Wait for the badge to say Live, pressing "Retry now" whenever it is offered."""
    badge = page.locator("[data-conn-text]")
    retry = page.locator("[data-conn-retry]")
    while badge.text_content() != "Live":
        assert time.monotonic() < deadline, f"still {badge.text_content()!r}"
        if retry.is_visible():
            try:
                retry.click(timeout=2_000)
            except PlaywrightTimeout:
                pass  # the client reconnected on its own and hid the button first
        page.wait_for_timeout(200)  # polling, not synchronisation


def no_page_errors(*pages: Page) -> None:
    for page in pages:
        assert page.errors == [], page.errors


# ---- tests ----------------------------------------------------------------------------------


def test_two_users_chat_live_and_see_each_other_online(server_factory, new_context):
    server = server_factory()
    alice, _ = server.api.user("alice"), server.api.user("bob")
    carol = server.api.user("carol")
    make_room(server, alice, "design-review")
    post_message(
        server,
        carol,
        "design-review",
        "Morning! The new onboarding mockups are in the shared folder.",
    )

    page_a = open_room(new_context, server, "alice", "design-review")
    page_b = open_room(new_context, server, "bob", "design-review")

    # Presence: bob sees alice from his welcome, alice sees bob join through a diff.
    expect(online(page_b)).to_have_text(["bob", "alice"])
    expect(online(page_a)).to_have_text(["alice", "bob"])
    expect(page_a.locator("[data-online-count]")).to_have_text("2")

    say(page_a, "Thanks Carol! Bob, can you look at the sign-up flow today?")
    expect(page_b.locator("[data-messages] .msg__body").last).to_have_text(
        "Thanks Carol! Bob, can you look at the sign-up flow today?"
    )
    say(page_b, "On it. The password step feels long; I'll suggest a shorter one.")
    expect(page_a.locator("[data-messages] .msg__body").last).to_have_text(
        "On it. The password step feels long; I'll suggest a shorter one."
    )
    say(page_a, "Great, let's review it at 3 pm.")
    say(page_a, "I'll bring the coffee.")
    expect(page_b.locator("[data-messages] .msg__body").last).to_have_text(
        "I'll bring the coffee."
    )

    expected = [
        "Morning! The new onboarding mockups are in the shared folder.",
        "Thanks Carol! Bob, can you look at the sign-up flow today?",
        "On it. The password step feels long; I'll suggest a shorter one.",
        "Great, let's review it at 3 pm.",
        "I'll bring the coffee.",
    ]
    expect(page_a.locator("[data-messages] .msg--pending")).to_have_count(0)
    assert bodies(page_a) == expected
    assert bodies(page_b) == expected

    # Production mode (DJANGO_DEBUG=0, no collectstatic): whitenoise serves from finders.
    for path in ("/static/js/realtime-client.js", "/static/css/app.css"):
        response = page_a.request.get(path)
        assert response.ok and re.search(
            "javascript|css", response.headers["content-type"]
        )

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page_a.locator("[data-composer-input]").focus()
    page_a.screenshot(path=str(SCREENSHOTS / "room.png"))

    # The other pages under the same Content-Security-Policy: the API docs (Swagger UI
    # from the sidecar) render their operations, the admin its sign-in form.
    assert (
        "frame-ancestors 'none'"
        in page_a.request.get("/").headers["content-security-policy"]
    )
    docs = watched(page_a.context.new_page())
    docs.goto("/api/docs/")
    expect(docs.locator(".opblock").first).to_be_visible()
    expect(docs.locator(".opblock-summary-path").first).to_contain_text("/api/")
    admin = watched(page_a.context.new_page())
    admin.goto("/admin/")  # alice is no staff: the admin sign-in page
    expect(admin.locator("#site-name")).to_be_visible()
    no_page_errors(docs, admin)
    docs.close()
    admin.close()

    # Bob closes his tab: alice sees him leave.
    page_b.context.close()
    expect(online(page_a)).to_have_text(["alice"])
    expect(page_a.locator("[data-online-count]")).to_have_text("1")
    no_page_errors(page_a)


def test_script_body_is_shown_as_text_and_never_runs(server_factory, new_context):
    server = server_factory()
    alice, _ = server.api.user("alice"), server.api.user("bob")
    make_room(server, alice, "lobby")
    page_a = open_room(new_context, server, "alice", "lobby")
    page_b = open_room(new_context, server, "bob", "lobby")

    evil = '<script>window.__owned = 1</script><img src=x onerror="window.__owned = 2"><b>bold</b>'
    say(page_a, evil)
    expect(page_b.locator("[data-messages] .msg__body").last).to_have_text(evil)
    # From history too (a fresh page gets it in the welcome frame).
    page_b.reload()
    expect(page_b.locator("[data-messages] .msg__body").last).to_have_text(evil)
    for page in (page_a, page_b):
        assert page.evaluate("window.__owned") is None
        assert (
            page.locator(
                "[data-messages] script, [data-messages] img, [data-messages] b"
            ).count()
            == 0
        )
    no_page_errors(page_a, page_b)


def test_logging_out_in_one_tab_sends_the_other_tabs_to_the_login_page(
    server_factory, new_context
):
    server = server_factory()
    alice = server.api.user("alice")
    make_room(server, alice, "lobby")
    room_tab = open_room(new_context, server, "alice", "lobby")
    logins = []  # navigations of the room tab to the login page
    room_tab.on(
        "request",
        lambda r: (
            r.is_navigation_request() and "/login/" in r.url and logins.append(r.url)
        ),
    )
    other_tab = room_tab.context.new_page()
    other_tab.goto("/notifications/")
    other_tab.get_by_role("button", name="Log out").click()
    expect(other_tab).to_have_url(re.compile(r"/login/$"))
    # The server closes every socket of the user with 4401; a session page re-logs in.
    # Polled, not awaited as one navigation: the URL is what the user ends up with.
    expect(room_tab).to_have_url(re.compile(r"/login/\?next=/rooms/lobby/$"))
    expect(room_tab.get_by_role("heading", name="Sign in")).to_be_visible()
    # Both of its sockets (chat, notify) got 4401, and the page went once: a second
    # navigation would have aborted the first.
    assert logins == [server.url + "/login/?next=/rooms/lobby/"]
    no_page_errors(room_tab)


def test_notification_from_the_command_appears_as_a_toast_and_in_the_bell(
    server_factory, new_context
):
    server = server_factory()
    alice = server.api.user("alice")
    for slug in ("general", "design-review"):
        make_room(server, alice, slug)
    make_room(server, alice, "launch-plans", private=True)
    # Two are waiting when the page opens (the welcome frame carries them, no toast) ...
    notify(
        server,
        alice,
        ("Welcome aboard", "Create a room or join #general to say hello.", "info"),
        ("Storage almost full", "Your team uses 92% of its file quota.", "warning"),
    )
    page = signed_in(new_context, server, "alice", "/")
    bell = page.get_by_role("button", name=re.compile("^Notifications"))
    expect(page.locator("[data-bell-count]")).to_have_text("2")
    expect(page.locator("[data-rooms] .room-card")).to_have_count(3)

    # ... and one arrives live, from the command, while the page is open.
    server.manage(
        "send_notification",
        "alice",
        "--title",
        "Deploy finished",
        "--body",
        "<b>v2.4.1</b> is live on production.",
        "--level",
        "success",
    )
    toast = page.locator("[data-toasts] .toast", has_text="Deploy finished")
    expect(toast).to_be_visible()
    expect(toast.locator(".toast__body")).to_have_text(
        "<b>v2.4.1</b> is live on production."
    )
    expect(toast).to_have_class(re.compile("toast--success"))
    expect(page.locator("[data-bell-count]")).to_have_text("3")
    expect(bell).to_have_accessible_name("Notifications, 3 unread")

    bell.click()
    expect(bell).to_have_attribute("aria-expanded", "true")
    items = page.locator("[data-bell-list] .bell-item__title")
    expect(items).to_have_text(
        ["Deploy finished", "Storage almost full", "Welcome aboard"]
    )
    page.screenshot(path=str(SCREENSHOTS / "notifications.png"))

    # Mark one read from the dropdown: the count follows, on this page and from the server.
    page.get_by_role("button", name='Mark "Welcome aboard" as read').click()
    expect(page.locator("[data-bell-count]")).to_have_text("2")
    page.keyboard.press("Escape")
    expect(bell).to_have_attribute("aria-expanded", "false")
    expect(bell).to_be_focused()
    status, body = server.api.get(
        "/api/notifications/?unread=1", token=server.api.tokens("alice")["access"]
    )
    assert status == 200 and [n["title"] for n in body["results"]] == [
        "Deploy finished",
        "Storage almost full",
    ]
    no_page_errors(page)


def test_notifications_page_marks_read_and_all_read(server_factory, new_context):
    server = server_factory()
    dana = server.api.user("dana")
    notify(
        server,
        dana,
        ("First", "", "info"),
        ("Second", "", "info"),
        ("Third", "", "info"),
    )
    page = signed_in(new_context, server, "dana", "/notifications/")
    rows = page.locator("[data-notif-list] .notif")
    expect(rows.locator(".notif__title")).to_have_text(
        ["Unread: Third", "Unread: Second", "Unread: First"]
    )
    expect(page.locator("[data-unread-text]")).to_have_text("3 unread")

    page.get_by_role("button", name='Mark "Second" as read').click()
    expect(page.locator("[data-unread-text]")).to_have_text("2 unread")
    expect(rows.nth(1)).not_to_have_class(re.compile("is-unread"))
    expect(page.locator("[data-bell-count]")).to_have_text("2")

    # A new one arrives live at the top of the list.
    notify(server, dana, ("Fourth", "", "error"))
    expect(rows.first.locator(".notif__title")).to_have_text("Unread: Fourth")
    expect(page.locator("[data-unread-text]")).to_have_text("3 unread")

    page.get_by_role("button", name="Mark all read").first.click()
    expect(page.locator("[data-unread-text]")).to_have_text("All caught up.")
    expect(page.locator("[data-notif-list] .notif.is-unread")).to_have_count(0)
    expect(page.locator("[data-bell-count]")).to_be_hidden()

    page.get_by_role("button", name="Unread").click()
    expect(page.locator("[data-notif-status]")).to_have_text("No unread notifications.")
    no_page_errors(page)


def test_server_restart_mid_conversation_leaves_every_message_exactly_once(
    server_factory, new_context
):
    server = server_factory()
    alice, _ = server.api.user("alice"), server.api.user("bob")
    make_room(server, alice, "ops")
    page_a = open_room(new_context, server, "alice", "ops")
    page_b = open_room(new_context, server, "bob", "ops")
    say(page_a, "one")
    expect(page_b.locator("[data-messages] .msg__body").last).to_have_text("one")
    say(page_b, "two")
    expect(page_a.locator("[data-messages] .msg__body").last).to_have_text("two")

    server.terminate()
    server.wait(30)
    for page in (page_a, page_b):
        expect(page.locator("[data-conn-text]")).to_contain_text("Offline")

    # Typed while the server is down: shown at once, pending, queued.
    say(page_a, "typed while offline")
    pending = page_a.locator("[data-messages] .msg--pending")
    expect(pending).to_have_count(1)
    expect(pending.locator(".msg__body")).to_have_text("typed while offline")
    expect(pending.locator(".msg__status")).to_contain_text("Queued")
    expect(page_a.locator("[data-composer-status]")).to_contain_text("offline")

    restarted = harness.Server(env=server.env, workdir=server.workdir, port=server.port)
    try:
        restarted.start()
        deadline = time.monotonic() + 30
        for page in (page_a, page_b):
            until_live(page, deadline)
        expect(pending).to_have_count(0)  # confirmed by its echo
        expect(page_b.locator("[data-messages] .msg__body").last).to_have_text(
            "typed while offline"
        )
        say(page_b, "three")
        expect(page_a.locator("[data-messages] .msg__body").last).to_have_text("three")

        expected = ["one", "two", "typed while offline", "three"]
        assert bodies(page_a) == expected
        assert bodies(page_b) == expected
        # And the source of truth agrees: stored once each.
        status, stored = restarted.api.get(
            "/api/rooms/ops/messages/?after=0", token=alice.access
        )
        assert status == 200
        stored = stored["results"] if isinstance(stored, dict) else stored
        assert [m["body"] for m in stored] == expected
        no_page_errors(page_a, page_b)
    finally:
        for page in (page_a, page_b):
            page.context.close()  # before the drain, which would wait for their sockets
        restarted.stop()


def test_scrollback_pages_older_messages_in_once_each(server_factory, new_context):
    server = server_factory()
    erin = server.api.user("erin")
    make_room(server, erin, "archive")
    server.manage(  # one process for 70 messages, not 70 requests
        "shell",
        "-c",
        "from accounts.models import User; from chat.models import Room; "
        "from chat.services import message_create; "
        "room = Room.objects.get(slug='archive'); user = User.objects.get(username='erin'); "
        "[message_create(room=room, user=user, body=f'note {i}') for i in range(1, 71)]",
    )
    page = open_room(new_context, server, "erin", "archive")
    # The welcome frame's history: the last 50.
    expect(page.locator("[data-messages] .msg")).to_have_count(50)
    assert bodies(page)[0] == "note 21"

    expect(page.get_by_role("button", name="Load earlier messages")).to_be_attached()
    # Scrolling up to the top of the conversation loads the page before it.
    page.locator("[data-scroll]").hover()
    page.mouse.wheel(0, -100_000)
    expect(page.locator("[data-messages] .msg")).to_have_count(70)
    expect(page.locator("[data-history-start]")).to_be_visible()
    assert bodies(page) == [f"note {i}" for i in range(1, 71)]
    no_page_errors(page)
