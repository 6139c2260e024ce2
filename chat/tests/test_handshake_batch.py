"""A handshake batch reads for all its sockets at once and answers as one socket's reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chat.tests import handshake_probe
from tests import harness


@pytest.mark.django_db
def test_batched_handshake_reads_answer_as_the_one_socket_reads_on_sqlite():
    result = handshake_probe.run()
    assert result["vendor"] == "sqlite"
    handshake_probe.check(result)


def test_batched_handshake_reads_answer_as_the_one_socket_reads_on_postgresql(
    pg_database,
):
    env = harness.base_env(DATABASE_URL=pg_database)
    harness.migrate(env)
    out = subprocess.run(
        [sys.executable, str(Path(handshake_probe.__file__))],
        env=env,
        cwd=harness.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["vendor"] == "postgresql"
    handshake_probe.check(result)
