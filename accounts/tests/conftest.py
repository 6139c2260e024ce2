"""Fixtures of the account tests; the socket helpers are the notify tests' (support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from notifications.tests import support


@pytest.fixture
async def sockets(serving: Any) -> AsyncIterator[support.Sockets]:
    """Sockets of one test, on this process serving (the lifecycle started)."""
    s = support.Sockets()
    yield s
    await s.close_all()
