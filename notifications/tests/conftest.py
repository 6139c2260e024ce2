"""Fixtures of the notify tests (helpers are in support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from notifications.tests import support
from realtime.fanout.hub import hub


@pytest.fixture
def make_user(django_db_setup: Any) -> Callable[..., Any]:
    """`make_user("alice", is_staff=False)` -> a saved user (sync)."""
    return support.make_user


@pytest.fixture
async def sockets() -> AsyncIterator[support.Sockets]:
    """Sockets of one test; afterwards the hub of this test's loop is stopped."""
    s = support.Sockets()
    yield s
    await s.close_all()
    await hub.stop()
