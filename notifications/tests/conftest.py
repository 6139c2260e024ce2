"""Fixtures of the notify tests (helpers are in support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from notifications.tests import support


@pytest.fixture
def make_user(django_db_setup: Any) -> Callable[..., Any]:
    """`make_user("alice", is_staff=False)` -> a saved user (sync)."""
    return support.make_user


@pytest.fixture
async def sockets(serving: Any) -> AsyncIterator[support.Sockets]:
    """Sockets of one test, on this process serving (the lifecycle started)."""
    s = support.Sockets()
    yield s
    await s.close_all()
