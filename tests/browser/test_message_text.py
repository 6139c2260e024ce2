"""The room page's message text and jumps, in real Chromium (issue 16, browser side).

Markdown subset and links rendered as DOM nodes (never HTML from the body), and a
`?seq=` link opening a room at an old message with the messages around it loaded.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_ui import (
    bodies,
    make_room,
    no_page_errors,
    open_room,
    post_message,
    say,
    signed_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_markdown_and_links_render_as_safe_nodes(server_factory, new_context):
    server = server_factory()
    alice, _ = server.api.user("alice"), server.api.user("bob")
    make_room(server, alice, "notes")
    page_a = open_room(new_context, server, "alice", "notes")
    page_b = open_room(new_context, server, "bob", "notes")

    say(
        page_a,
        "**ship** it _today_, see `make run` and https://example.com/docs?x=1. "
        # "@bob" not last: with bob online, Enter right after it would pick the
        # mention from the completion list (as it should) instead of sending.
        "not a link: javascript:alert(1) @bob, thanks",
    )
    last = page_b.locator("[data-messages] .msg").last
    expect(last.locator(".msg__body strong")).to_have_text("ship")
    expect(last.locator(".msg__body em")).to_have_text("today")
    expect(last.locator(".msg__body code")).to_have_text("make run")
    link = last.locator(".msg__body a")
    expect(link).to_have_count(1)
    expect(link).to_have_attribute("href", "https://example.com/docs?x=1")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(link).to_have_attribute("target", "_blank")
    expect(last.locator(".mention--me")).to_have_text("@bob")

    box = page_a.get_by_label(re.compile("^Message [#@]"))
    box.fill("```")
    box.press("Shift+Enter")
    box.type("<b>not bold</b>")
    box.press("Shift+Enter")
    box.type("```")
    box.press("Enter")
    block = page_b.locator("[data-messages] .msg").last.locator(".msg__body pre code")
    expect(block).to_have_text("<b>not bold</b>")
    assert page_b.locator("[data-messages] b").count() == 0
    no_page_errors(page_a, page_b)


def test_a_seq_link_opens_the_room_at_an_old_message_with_its_neighbours(
    server_factory, new_context
):
    server = server_factory()
    erin = server.api.user("erin")
    make_room(server, erin, "long")
    server.manage(
        "shell",
        "-c",
        "from accounts.models import User; from chat.models import Room; "
        "from chat.services import message_create; "
        "room = Room.objects.get(slug='long'); user = User.objects.get(username='erin'); "
        "[message_create(room=room, user=user, body=f'line {i}') for i in range(1, 131)]",
    )
    page = signed_in(new_context, server, "erin", "/rooms/long/?seq=20")
    target = page.locator('[data-messages] .msg[data-seq="20"]')
    expect(target).to_have_class(re.compile("msg--target"))
    expect(target).to_be_in_viewport()
    expect(target).to_be_focused()
    # Up to 25 before it (all 19 there are) and 25 from it on, then a line that loads
    # what lies between them and the newest 50 of the welcome (81..130).
    shown = bodies(page)
    assert shown == [f"line {i}" for i in (*range(1, 45), *range(81, 131))]
    gap = page.locator("[data-messages] .msg-gap")
    expect(gap).to_have_count(1)
    gap.get_by_role("button", name="Load newer messages").click()
    expect(gap).to_have_count(0)
    assert bodies(page) == [f"line {i}" for i in range(1, 131)]
    # Sending still lands at the end, in order.
    post_message(server, erin, "long", "after the jump")
    expect(page.locator("[data-messages] .msg__body").last).to_have_text(
        "after the jump"
    )
    no_page_errors(page)
