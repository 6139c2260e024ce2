"""Fixtures of the account tests; the socket helpers are the notify tests' (support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from notifications.tests import support
from realtime.fanout.hub import hub


@pytest.fixture
async def sockets() -> AsyncIterator[support.Sockets]:
    """Sockets of one test; afterwards the hub of this test's loop is stopped."""
    s = support.Sockets()
    yield s
    await s.close_all()
    await hub.stop()
