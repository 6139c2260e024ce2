"""Rooms and conversations in real headless Chromium: the whitelist, room settings,
offline queue and drafts, the phone layout, the sidebar of conversations (issue 15).

Split from test_ui.py so that the test processes share the browser tests evenly; the
page helpers are test_ui's.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import Page, expect

from tests import harness
from tests.browser.test_ui import (
    SCREENSHOTS,
    bodies,
    make_room,
    no_page_errors,
    notify,
    online,
    open_room,
    post_message,
    say,
    signed_in,
    until_live,
    watched,
)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


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
