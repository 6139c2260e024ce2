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
import urllib.error
import urllib.request
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


def test_owner_creates_a_private_room_and_manages_its_whitelist(
    server_factory, new_context
):
    server = server_factory()
    server.api.user("olga")
    server.api.user("pete")
    owner = signed_in(new_context, server, "olga", "/")
    owner.get_by_label("Name", exact=True).fill("Launch plans")
    expect(owner.get_by_label("Address")).to_have_value("launch-plans")
    owner.get_by_role("radio", name="Private").check()
    owner.get_by_role("button", name="Create room").click()
    owner.wait_for_url(re.compile(r"/rooms/launch-plans/$"))
    expect(owner.locator("[data-conn-text]")).to_have_text("Live")
    expect(owner.locator("[data-room-visibility]")).to_have_text("Private")
    members = owner.locator("[data-whitelist-list] .person__name")
    expect(members).to_have_text(["olga"])

    # Not on the whitelist: refused, and told so.
    guest = signed_in(new_context, server, "pete", "/rooms/launch-plans/")
    assert guest.reload().status == 403
    expect(guest.locator("[data-room-fatal]")).to_contain_text(
        "not on this room’s whitelist"
    )

    owner.get_by_label("Username to add").fill("pete")
    owner.get_by_role("button", name="Add").click()
    expect(members).to_have_text(["olga", "pete"])

    # The "private" page lets pete in by itself once he is added: no reload.
    expect(guest.locator("[data-conn-text]")).to_have_text("Live")
    # A member sees who else is on the whitelist; only the owner manages it.
    expect(guest.locator("[data-whitelist-list] .person__name")).to_have_text(
        ["olga", "pete"]
    )
    expect(guest.locator("[data-whitelist-form]")).to_have_count(0)
    expect(guest.get_by_role("button", name=re.compile("^Remove "))).to_have_count(0)
    say(guest, "thanks for the invite")
    expect(owner.locator("[data-messages] .msg__body").last).to_have_text(
        "thanks for the invite"
    )

    # Removed: the live socket is closed with 4403 and the page says he was removed.
    owner.get_by_role("button", name="Remove pete from the whitelist").click()
    expect(members).to_have_text(["olga"])
    expect(guest.locator("[data-room-fatal]")).to_contain_text(
        "You were removed from this room’s whitelist"
    )
    expect(guest.locator("[data-conn-text]")).to_have_text("Disconnected")

    assert guest.goto("/rooms/no-such-room/").status == 404
    expect(guest.locator("[data-room-fatal]")).to_have_text(
        "There is no room called #no-such-room."
    )

    # The room list shows it to the member only.
    owner.goto("/")
    expect(owner.locator("[data-rooms] .room-card__name")).to_contain_text(
        ["Launch plans"]
    )
    guest.goto("/")
    expect(guest.locator("[data-rooms-status]")).to_have_text(
        re.compile("room|No rooms")
    )
    expect(
        guest.locator("[data-rooms] .room-card__name", has_text="Launch plans")
    ).to_have_count(0)
    no_page_errors(owner, guest)


def test_the_owner_renames_sets_a_topic_and_archives_and_members_see_it_live(
    server_factory, new_context
):
    server = server_factory()
    olga = server.api.user("olga")
    server.api.user("pete")
    make_room(server, olga, "release")
    owner = open_room(new_context, server, "olga", "release")
    member = open_room(new_context, server, "pete", "release")
    # Settings are the owner's.
    expect(member.get_by_role("button", name="Room settings")).to_have_count(0)

    # Keyboard: the dialog opens from its button, Escape closes it, the focus comes back.
    opener = owner.get_by_role("button", name="Room settings")
    opener.focus()
    owner.keyboard.press("Enter")
    dialog = owner.get_by_role("dialog", name="Room settings")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Name")).to_be_focused()
    owner.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()

    # A refusal is said in words under its field.
    opener.click()
    dialog.get_by_label("Name").fill("")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator('[data-error-for="name"]')).to_have_text(
        "Give the room a name."
    )
    expect(dialog.get_by_label("Name")).to_have_attribute("aria-invalid", "true")

    dialog.get_by_label("Name").fill("Launch day")
    dialog.get_by_label("Topic").fill("Ship 2.0 on Friday")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    owner.screenshot(path=str(SCREENSHOTS / "room-settings.png"))
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    for page in (owner, member):
        expect(page.locator("[data-room-name]")).to_have_text("Launch day")
        expect(page.locator("[data-room-topic]")).to_have_text("Ship 2.0 on Friday")
    expect(member).to_have_title(re.compile("^Launch day"))

    # Archived: the member's composer is off and a banner says why, live.
    say(member, "before the freeze")
    expect(owner.locator("[data-messages] .msg__body").last).to_have_text(
        "before the freeze"
    )
    opener.click()
    dialog.get_by_label("Archived").check()
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(member.locator("[data-room-archived]")).to_contain_text(
        "This room is archived"
    )
    expect(member.locator("[data-composer-input]")).to_be_disabled()
    expect(member.locator("[data-composer-send]")).to_be_disabled()
    # At phone width the banner, the header and the disabled composer all fit.
    member.set_viewport_size({"width": 390, "height": 760})
    member.screenshot(path=str(SCREENSHOTS / "room-archived-phone.png"))
    member.set_viewport_size({"width": 1280, "height": 760})
    # The history stays readable, after a reload too.
    member.reload()
    expect(member.locator("[data-conn-text]")).to_have_text("Live")
    expect(member.locator("[data-composer-input]")).to_be_disabled()
    assert bodies(member) == ["before the freeze"]

    # Unarchived: posting is back.
    opener.click()
    dialog.get_by_label("Archived").uncheck()
    dialog.get_by_role("button", name="Save").click()
    expect(member.locator("[data-room-archived]")).to_be_hidden()
    expect(member.locator("[data-composer-input]")).to_be_enabled()
    say(member, "after the thaw")
    expect(owner.locator("[data-messages] .msg__body").last).to_have_text(
        "after the thaw"
    )
    no_page_errors(owner, member)


def test_debug_mode_serves_the_static_files_and_pages_need_a_session(server_factory):
    # Every other test here runs DJANGO_DEBUG=0, where the UI working at all proves
    # whitenoise serves static/ from the finders; this is the `make run` mode.
    server = server_factory(DJANGO_DEBUG="1")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    for path in ("/", "/rooms/lobby/", "/notifications/"):
        with pytest.raises(urllib.error.HTTPError) as err:
            opener.open(server.url + path, timeout=10)
        assert err.value.code == 302
        assert err.value.headers["Location"].startswith("/login/?next=")

    for path, kind in (
        ("/static/js/realtime-client.js", "javascript"),
        ("/static/js/room.js", "javascript"),
        ("/static/js/app.js", "javascript"),
        ("/static/css/app.css", "text/css"),
    ):
        with urllib.request.urlopen(server.url + path, timeout=10) as resp:
            assert resp.status == 200
            assert kind in resp.headers["Content-Type"]
            assert len(resp.read()) > 500
    with urllib.request.urlopen(server.url + "/login/", timeout=10) as resp:
        page = resp.read().decode()
    assert 'href="/static/css/app.css"' in page


def test_a_message_queued_offline_and_a_draft_survive_a_reload_and_send_once(
    server_factory, new_context
):
    server = server_factory()
    dora = server.api.user("dora")
    make_room(server, dora, "field-notes")
    page = signed_in(new_context, server, "dora", "/")
    # The room's socket is refused (1011) until `blocked` is lifted: offline, retrying.
    blocked = [True]

    def route(ws):
        if blocked[0]:
            ws.close(code=1011, reason="test: offline")
        else:
            ws.connect_to_server()

    page.route_web_socket(re.compile(r"/ws/chat/"), route)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.type), d.accept()))
    page.goto("/rooms/field-notes/")
    expect(page.locator("[data-conn-text]")).to_contain_text("Offline")
    # The logo's dot says offline too (it said online whatever the connection did).
    expect(page.locator("body")).to_have_attribute("data-conn", "offline")
    # Entering a room puts the keyboard in the composer.
    expect(page.locator("[data-composer-input]")).to_be_focused()

    say(page, "written on the train")
    expect(page.locator(".msg--pending .msg__status")).to_contain_text("Queued")
    page.locator("[data-composer-input]").fill("half a thought")
    # Leaving with an unsent message: the browser asks first.
    page.reload()
    assert dialogs == ["beforeunload"]
    expect(page.locator(".msg--pending .msg__body")).to_have_text(
        "written on the train"
    )
    expect(page.locator("[data-composer-input]")).to_have_value("half a thought")

    blocked[0] = False
    until_live(page, time.monotonic() + 30)
    expect(page.locator("[data-messages] .msg--pending")).to_have_count(0)
    expect(page.locator("body")).to_have_attribute("data-conn", "open")
    status, stored = server.api.get(
        "/api/rooms/field-notes/messages/?after=0", token=dora.access
    )
    assert status == 200
    assert [m["body"] for m in stored["results"]] == ["written on the train"]
    page.reload()  # nothing left to send: no question, and still one message
    expect(page.locator("[data-conn-text]")).to_have_text("Live")
    assert bodies(page) == ["written on the train"]
    assert dialogs == ["beforeunload"]
    no_page_errors(page)


def test_phone_layout_keeps_the_conversation_first_and_toasts_clear_of_send(
    server_factory, new_context
):
    server = server_factory()
    fay = server.api.user("fay")
    make_room(server, fay, "standup")
    for body in ("first", "second, same minute"):
        post_message(server, fay, "standup", body)
    context = new_context(
        base_url=server.url,
        viewport={"width": 390, "height": 844},
        device_scale_factor=1,
        has_touch=True,
        is_mobile=True,
    )
    page = watched(context.new_page())
    page.goto("/login/?next=/rooms/standup/")
    page.get_by_label("Username").fill("fay")
    page.get_by_label("Password").fill(harness.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("[data-conn-text]")).to_have_text("Live")

    # Who is signed in shows in the header; the room has one name.
    expect(page.locator(".whoami__name")).to_be_visible()
    expect(page.locator("[data-room-name]")).to_have_text("Standup")
    expect(page.locator("[data-composer-input]")).to_have_attribute(
        "placeholder", "Message #Standup"
    )
    # The conversation takes most of the screen, the composer is at its bottom, and the
    # online list is a panel opened on demand, not a block under the composer.
    chat = page.locator("[data-scroll]").bounding_box()
    send = page.locator("[data-composer-send]").bounding_box()
    assert chat["height"] > 844 * 0.6, chat
    assert send["y"] + send["height"] > 844 - 80, send
    expect(page.locator("[data-online]")).to_be_hidden()
    page.get_by_role("button", name=re.compile("^Online")).click()
    expect(page.locator("[data-online] .person__name")).to_have_text(["fay"])
    page.keyboard.press("Escape")
    expect(page.locator("[data-online]")).to_be_hidden()

    # A time on every message: the grouped follow-on has one too, and a day separator.
    expect(page.locator(".msg--cont .msg__gutter time")).to_have_count(1)
    expect(page.locator(".day-sep")).to_have_text(["Today"])

    # An over-long paste stays, and the app says why it cannot be sent.
    page.locator("[data-composer-input]").fill("x" * 4001)
    expect(page.locator("[data-composer-limit]")).to_contain_text("at most 4000")
    page.locator("[data-composer-send]").click()
    expect(page.locator("[data-composer-input]")).to_have_value("x" * 4001)
    assert len(bodies(page)) == 2

    notify(server, fay, ("Deploy finished", "v2.4.1 is live.", "success"))
    toast = page.locator("[data-toasts] .toast")
    expect(toast).to_be_visible()
    box = toast.bounding_box()
    assert box["y"] + box["height"] < send["y"], (box, send)  # not over Send
    assert box["height"] < 844 / 4, box
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "room-phone.png"))
    no_page_errors(page)


def convo(page: Page, slug: str):
    return page.locator(f'[data-conversations] [data-slug="{slug}"]')


def test_sidebar_badge_rises_live_and_clears_on_opening_and_a_dm_appears_for_the_peer(
    server_factory, new_context
):
    server = server_factory()
    alice, bob = server.api.user("alice"), server.api.user("bob")
    make_room(server, alice, "standup")
    status, _ = server.api.post("/api/rooms/standup/join/", token=bob.access)
    assert status == 204
    post_message(server, alice, "standup", "Yesterday: the release notes.")

    page_b = signed_in(new_context, server, "bob", "/")
    expect(convo(page_b, "standup")).to_be_visible()
    # bob joined before it: the welcome counts the message unread.
    expect(convo(page_b, "standup").locator(".convo__badge")).to_have_text("1")

    # alice posts: bob's badge rises live, the mention shows, the tab title counts.
    post_message(server, alice, "standup", "Today: the sidebar.")
    expect(convo(page_b, "standup").locator(".convo__badge")).to_have_text("2")
    post_message(server, alice, "standup", "@bob can you review it?")
    expect(convo(page_b, "standup").locator(".convo__badge")).to_have_text("3")
    expect(convo(page_b, "standup").locator(".convo__mentions")).to_have_text("@1")
    expect(page_b.locator("[data-toasts]")).to_contain_text("alice mentioned you")
    expect(page_b).to_have_title(re.compile(r"^\(3\) "))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page_b.screenshot(path=str(SCREENSHOTS / "conversations.png"))

    # bob opens the room: the divider sits at his read pointer, and the badge clears.
    convo(page_b, "standup").locator("a").click()
    page_b.wait_for_url(re.compile(r"/rooms/standup/$"))
    expect(page_b.locator("[data-conn-text]")).to_have_text("Live")
    divider = page_b.locator("[data-messages] > .new-sep")
    expect(divider).to_have_count(1)
    first_unread = divider.evaluate("d => d.nextElementSibling.textContent")
    assert "Yesterday: the release notes." in first_unread
    expect(convo(page_b, "standup")).to_be_visible()
    expect(convo(page_b, "standup").locator(".convo__badge")).to_have_count(0)
    expect(convo(page_b, "standup").locator(".convo__mentions")).to_have_count(0)
    expect(page_b).not_to_have_title(re.compile(r"^\("))
    page_b.screenshot(path=str(SCREENSHOTS / "room-divider.png"))

    # @ completion from the room's people: arrow keys and Tab complete the name.
    box = page_b.locator("[data-composer-input]")
    box.press_sequentially("thanks @a")
    options = page_b.locator("[data-mention-list] [role=option]")
    expect(options).to_have_count(1)
    expect(options).to_have_attribute("data-username", "alice")
    box.press("ArrowDown")
    box.press("Tab")
    expect(box).to_have_value("thanks @alice ")
    expect(page_b.locator("[data-mention-list]")).to_be_hidden()
    box.fill("")

    # A direct message started from the online list reaches alice's sidebar, no reload.
    page_a = open_room(new_context, server, "alice", "standup")
    page_a.evaluate("window.__stillHere = true")
    expect(online(page_b)).to_have_text(["bob", "alice"])
    online(page_b).filter(has_text="alice").click()
    page_b.wait_for_url(re.compile(r"/rooms/dm-[0-9a-f]+/$"))
    expect(page_b.locator("[data-conn-text]")).to_have_text("Live")
    expect(page_b.locator("[data-room-name]")).to_have_text("alice")
    say(page_b, "Quick question about the sidebar")
    dm = page_a.locator('[data-conversations] [data-kind="direct"]')
    expect(dm).to_have_count(1)
    expect(dm.locator(".convo__name")).to_have_text("bob")
    expect(dm.locator(".convo__badge")).to_have_text("1")
    assert page_a.evaluate("window.__stillHere") is True

    # Desktop alerts are opt-in: the bell's toggle turns them on once the browser allows.
    page_a.context.grant_permissions(["notifications"])
    page_a.locator("[data-bell-button]").click()
    toggle = page_a.locator("[data-desktop-alerts]")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")

    # "Message someone" on the room list: an unknown name is said in words; bob's name
    # finds the same direct room from alice's side.
    page_a.goto("/")
    field = page_a.get_by_label("Username to message")
    field.fill("nobody")
    field.press("Enter")
    expect(page_a.locator("[data-new-dm-error]")).to_be_visible()
    expect(field).to_have_attribute("aria-invalid", "true")
    field.fill("bob")
    field.press("Enter")
    page_a.wait_for_url(page_b.url)
    assert page_a.errors == [] and page_b.errors == []
