"""Message search: the selector on SQLite and PostgreSQL, the index's triggers, the API."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from chat.tests import search_probe
from tests import harness

PROBE = Path(search_probe.__file__)


@pytest.mark.django_db
def test_search_finds_by_prefix_accent_and_case_only_readable_live_messages_on_sqlite():
    result = search_probe.run()
    assert result["vendor"] == "sqlite"
    search_probe.check(result)


def test_search_finds_by_prefix_accent_and_case_only_readable_live_messages_on_postgresql(
    pg_database,
):
    env = harness.base_env(DATABASE_URL=pg_database)
    harness.migrate(env)
    out = subprocess.run(
        [sys.executable, str(PROBE)],
        env=env,
        cwd=harness.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["vendor"] == "postgresql"
    search_probe.check(result)
