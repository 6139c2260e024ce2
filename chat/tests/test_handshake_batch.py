"""A handshake batch reads for all its sockets at once and answers as one socket's reads."""

from __future__ import annotations

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
    result = harness.run_probe(handshake_probe.__file__, env)
    assert result["vendor"] == "postgresql"
    handshake_probe.check(result)
