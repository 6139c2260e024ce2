"""The header's message search in real Chromium (issue 16, PROTOCOL.md 10).

A result lists across my rooms with the matched word marked, and opens its room at
the message with the messages around it loaded; in the room already open it jumps
there without a reload.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_ui import bodies, make_room, no_page_errors, open_room

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_a_search_result_opens_its_room_at_the_message(server_factory, new_context):
    server = server_factory()
    alice = server.api.user("alice")
    make_room(server, alice, "archive")
    make_room(server, alice, "lobby")
    server.manage(  # one process for 80 messages, not 80 requests
        "shell",
        "-c",
        "from accounts.models import User; from chat.models import Room; "
        "from chat.services import message_create; "
        "room = Room.objects.get(slug='archive'); user = User.objects.get(username='alice'); "
        "words = {10: 'the Quokka budget is approved', 70: 'a walrus in the lobby'}; "
        "[message_create(room=room, user=user, body=words.get(i, f'entry {i}')) "
        "for i in range(1, 81)]",
    )
    page = open_room(new_context, server, "alice", "lobby")
    box = page.get_by_role("searchbox", name="Search messages")
    box.fill("quok")
    result = page.locator("[data-search-results] a").first
    expect(result).to_contain_text("the Quokka budget is approved")
    expect(result.locator("mark")).to_have_text("Quokka")
    expect(result.locator(".search__room")).to_have_text("#Archive")
    box.press("ArrowDown")
    expect(result).to_be_focused()
    page.keyboard.press("Enter")

    page.wait_for_url(re.compile(r"/rooms/archive/\?seq=10$"))
    target = page.locator('[data-messages] .msg[data-seq="10"]')
    expect(target).to_have_class(re.compile("msg--target"))
    expect(target).to_be_in_viewport()
    shown = bodies(page)
    assert "entry 9" in shown and "entry 11" in shown, shown

    # In the room already open, a result jumps there without a reload.
    page.evaluate("window.__samePage = true")
    box.fill("walrus")
    hit = page.locator("[data-search-results] a").first
    expect(hit).to_contain_text("a walrus in the lobby")
    hit.click()
    walrus = page.locator('[data-messages] .msg[data-seq="70"]')
    expect(walrus).to_have_class(re.compile("msg--target"))
    expect(walrus).to_be_focused()
    assert page.evaluate("window.__samePage") is True
    expect(page.locator("[data-search-panel]")).to_be_hidden()
    no_page_errors(page)
