"""Headless Chromium (Debian's, never a downloaded one) for the UI tests, and helpers."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    """One Chromium for the browser tests; each test opens its own contexts.

    Package scope, not session: Playwright's sync API keeps an event loop running in the
    main thread while it lives, and Django's test client (async_to_sync) refuses to run
    beside one, so it must be gone before the next package's tests.
    """
    if not shutil.which(CHROMIUM):
        # Never a quiet skip: say what to install.
        pytest.fail(
            f"{CHROMIUM} is missing: run `make browser-deps` (Debian's chromium package).",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_context(browser, server_factory) -> Iterator[object]:
    """`new_context(**options)`: a fresh browser context, closed when the test ends.

    It depends on server_factory so that it is torn down first: pages close their
    sockets before the servers stop (a SIGTERM drain then has nothing to wait for).
    """
    made = []

    def make(**options):
        context = browser.new_context(**options)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()
