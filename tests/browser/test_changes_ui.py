"""Messages that change, in real Chromium with two users (issue 16, PROTOCOL.md 10).

An edit, a delete and a reaction on one page appear live on the other; a page whose
socket was down while messages changed shows their current state after reconnecting,
without a reload; typing shows and clears; a reply quotes and jumps to its original.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests import harness
from tests.browser.test_ui import (
    make_room,
    no_page_errors,
    open_room,
    say,
    signed_in,
    until_live,
    watched,
)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def last_msg(page: Page):
    return page.locator("[data-messages] .msg").last


def composer(page: Page):
    return page.get_by_label(re.compile("^Message [#@]"))


def test_edit_delete_and_reaction_appear_live_on_the_other_page(
    server_factory, new_context
):
    server = server_factory()
    alice, _ = server.api.user("alice"), server.api.user("bob")
    make_room(server, alice, "plans")
    page_a = open_room(new_context, server, "alice", "plans")
    page_b = open_room(new_context, server, "bob", "plans")

    say(page_a, "lunch at noon")
    expect(last_msg(page_b).locator(".msg__body")).to_have_text("lunch at noon")
    expect(last_msg(page_a)).to_have_attribute("data-id", re.compile(r"^\d+$"))

    # Up in the empty composer edits my last message in place.
    composer(page_a).press("ArrowUp")
    editor = page_a.get_by_label("Edit message")
    expect(editor).to_be_focused()
    editor.fill("lunch at **one**")
    editor.press("Enter")
    expect(last_msg(page_b).locator(".msg__body strong")).to_have_text("one")
    expect(last_msg(page_b).locator(".msg__edited")).to_have_text("(edited)")
    # The author sees the earlier versions.
    last_msg(page_a).get_by_role("button", name="Edited: show earlier versions").click()
    expect(last_msg(page_a).locator(".versions__body")).to_have_text(
        ["lunch at noon", "lunch at **one**"]
    )

    # Bob reacts from the message's toolbar; Alice sees the count and who.
    last_msg(page_b).hover()
    last_msg(page_b).get_by_role("button", name="React with 👍").click()
    chip = last_msg(page_a).locator(".reaction")
    expect(chip).to_have_count(1)
    expect(chip).to_have_attribute("title", "👍 1: bob")
    expect(chip.locator(".reaction__count")).to_have_text("1")
    # Alice adds hers by the chip, from the keyboard: focus stays on it as it repaints.
    chip.focus()
    page_a.keyboard.press("Enter")
    expect(chip).to_have_attribute("aria-pressed", "true")
    expect(chip).to_be_focused()
    expect(last_msg(page_b).locator(".reaction")).to_have_attribute(
        "title", re.compile(r"^👍 2: you, alice$")
    )
    expect(last_msg(page_b).locator(".reaction")).to_have_attribute(
        "aria-pressed", "true"
    )

    # Bob may neither edit nor delete Alice's message (she owns the room, he does not).
    last_msg(page_b).hover()
    actions_b = last_msg(page_b).get_by_role("toolbar")
    expect(actions_b.get_by_role("button", name="Reply")).to_be_visible()
    expect(actions_b.get_by_role("button", name="Delete")).to_have_count(0)
    expect(actions_b.get_by_role("button", name="Edit")).to_have_count(0)

    # Alice deletes it, after a confirmation; both pages show the tombstone.
    last_msg(page_a).hover()
    last_msg(page_a).get_by_role("button", name="Delete").click()
    dialog = page_a.get_by_role("dialog", name="Delete this message?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Delete").click()
    for page in (page_a, page_b):
        expect(last_msg(page).locator(".msg__body")).to_have_text("message deleted")
        expect(last_msg(page).locator(".reaction")).to_have_count(0)
        expect(last_msg(page).locator(".msg__actions")).to_have_count(0)
    no_page_errors(page_a, page_b)


def test_a_page_offline_while_messages_change_catches_up_without_a_reload(
    server_factory, new_context
):
    server = server_factory()
    alice, _ = server.api.user("alice"), server.api.user("bob")
    make_room(server, alice, "ops")
    ids = []
    for body in ("first", "second", "third"):
        status, msg = server.api.post(
            "/api/rooms/ops/messages/", {"body": body}, token=alice.access
        )
        assert status == 201, (status, msg)
        ids.append(msg["id"])

    # Bob's room socket goes through a route the test can cut and then keep refused.
    blocked = [False]
    routes = []

    def route(ws):
        if blocked[0]:
            ws.close(code=1011, reason="test: offline")
        else:
            routes.append(ws)
            ws.connect_to_server()

    page_b = signed_in(new_context, server, "bob", "/")
    page_b.route_web_socket(re.compile(r"/ws/chat/"), route)
    page_b.goto("/rooms/ops/")
    expect(page_b.locator("[data-conn-text]")).to_have_text("Live")
    page_b.evaluate("window.__samePage = true")
    expect(page_b.locator("[data-messages] .msg__body")).to_have_text(
        ["first", "second", "third"]
    )
    blocked[0] = True
    routes[-1].close(code=1006, reason="test: cable pulled")
    expect(page_b.locator("[data-conn-text]")).to_contain_text("Offline")

    base = "/api/rooms/ops/messages"
    status, _ = server.api.request(
        "PATCH", f"{base}/{ids[0]}/", {"body": "first, edited"}, token=alice.access
    )
    assert status == 200
    status, _ = server.api.delete(f"{base}/{ids[1]}/", token=alice.access)
    assert status in (200, 204)
    status, _ = server.api.post(
        f"{base}/{ids[2]}/reactions/", {"emoji": "🎉"}, token=alice.access
    )
    assert status == 200

    blocked[0] = False
    until_live(page_b, time.monotonic() + 30)
    expect(page_b.locator("[data-messages] .msg__body")).to_have_text(
        ["first, edited", "message deleted", "third"]
    )
    expect(
        page_b.locator("[data-messages] .msg").nth(0).locator(".msg__edited")
    ).to_be_visible()
    expect(
        page_b.locator("[data-messages] .msg").nth(2).locator(".reaction")
    ).to_have_attribute("title", "🎉 1: alice")
    assert page_b.evaluate("window.__samePage") is True  # no reload
    no_page_errors(page_b)


def test_typing_shows_and_clears_and_a_reply_quotes_its_original(
    server_factory, new_context
):
    server = server_factory()
    alice, _ = server.api.user("alice"), server.api.user("bob")
    make_room(server, alice, "desk")
    page_a = open_room(new_context, server, "alice", "desk")
    page_b = open_room(new_context, server, "bob", "desk")
    say(page_a, "who has the keys?")
    expect(last_msg(page_b).locator(".msg__body")).to_have_text("who has the keys?")

    # The toolbar from the keyboard: one tab stop, arrows inside, the picker a dialog.
    toolbar = last_msg(page_b).get_by_role("toolbar", name="Message by alice")
    toolbar.get_by_role("button").first.focus()
    expect(toolbar).to_be_visible()  # shown while focus is inside
    for _ in range(3):
        page_b.keyboard.press("ArrowRight")
    more = toolbar.get_by_role("button", name="More reactions")
    expect(more).to_be_focused()
    page_b.keyboard.press("Enter")
    picker = page_b.get_by_role("dialog", name="Pick a reaction")
    expect(picker).to_be_visible()
    expect(picker.get_by_role("button", name="React with 👍")).to_be_focused()
    page_b.keyboard.press("ArrowRight")
    page_b.keyboard.press("Enter")
    expect(picker).to_be_hidden()
    expect(more).to_be_focused()  # back where it was, through the repaint
    expect(last_msg(page_a).locator(".reaction")).to_have_attribute(
        "title", "👎 1: bob"
    )

    # Bob replies: the Reply action, the quote above his composer, his typing on Alice's page.
    last_msg(page_b).hover()
    last_msg(page_b).get_by_role("button", name="Reply").click()
    expect(page_b.locator("[data-reply]")).to_contain_text("Replying to alice")
    composer(page_b).press_sequentially("I do", delay=50)
    typing = page_a.locator("[data-typing]")
    expect(typing).to_have_text("bob is typing…")
    expect(page_b.locator("[data-typing]")).to_be_hidden()  # never myself
    composer(page_b).press("Enter")
    expect(page_b.locator("[data-reply]")).to_be_hidden()
    expect(typing).to_be_hidden()  # his message took him off the list

    reply = last_msg(page_a)
    expect(reply.locator(".msg__body")).to_have_text("I do")
    quote = reply.locator(".msg__reply")
    expect(quote).to_contain_text("alice")
    expect(quote).to_contain_text("who has the keys?")
    quote.click()
    original = (
        page_a.locator("[data-messages] .msg")
        .filter(has_text="who has the keys?")
        .first
    )
    expect(original).to_have_class(re.compile("msg--target"))
    expect(original).to_be_focused()
    no_page_errors(page_a, page_b)


def test_at_phone_width_a_tap_shows_a_messages_actions(server_factory, new_context):
    server = server_factory()
    fay, _ = server.api.user("fay"), server.api.user("gus")
    make_room(server, fay, "standup")
    status, _ = server.api.post(
        "/api/rooms/standup/messages/",
        {"body": "**done**: the migration"},
        token=fay.access,
    )
    assert status == 201
    context = new_context(
        base_url=server.url,
        viewport={"width": 390, "height": 844},
        has_touch=True,
        is_mobile=True,
    )
    page = watched(context.new_page())
    page.goto("/login/?next=/rooms/standup/")
    page.get_by_label("Username").fill("gus")
    page.get_by_label("Password").fill(harness.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("[data-conn-text]")).to_have_text("Live")

    msg = last_msg(page)
    toolbar = msg.get_by_role("toolbar")
    expect(toolbar).to_have_css("opacity", "0")  # no hover on a touch screen
    msg.locator(".msg__head").tap()
    expect(toolbar).to_have_css("opacity", "1")
    box = toolbar.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box  # on screen
    toolbar.get_by_role("button", name="Reply").tap()
    expect(page.locator("[data-reply]")).to_contain_text("Replying to fay")
    expect(page.get_by_role("searchbox", name="Search messages")).to_be_visible()
    no_page_errors(page)
