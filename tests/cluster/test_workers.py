"""`manage.py serve --workers N` (`make cluster`): N processes behind one port, one cluster."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from tests import harness
from tests.support import (
    Frames,
    chat,
    close_code,
    http_get,
    is_message,
    room_create,
    say,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

_ROWS = (
    "import json; from realtime.registry.models import Connection as C, ServerProcess as P; "
    "print(json.dumps({'procs': list(P.objects.values_list('id', 'pid')), "
    "'conns': dict(C.objects.values_list('id', 'process_id'))}))"
)


def _rows(env: dict[str, str]) -> dict:
    return json.loads(
        harness.manage(env, "shell", "-c", _ROWS).strip().splitlines()[-1]
    )


def test_workers_behind_one_port_each_run_their_own_hub_and_lease(
    pg_database, own_redis, tmp_path
):
    env = harness.base_env(DATABASE_URL=pg_database, REDIS_URL=own_redis.url)
    harness.migrate(env)
    port = harness.free_port()
    log = (tmp_path / "workers.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--workers", "2", "--port", str(port)],
        cwd=harness.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = harness.Server(env=env, workdir=tmp_path, port=port)
    try:
        wait_for(
            lambda: http_get(server.url + "/healthz")[0] == 200,
            timeout=60,
            what="healthz",
        )
        procs = wait_for(
            lambda: (rows := _rows(env)["procs"]) and len(rows) == 2 and rows,
            what="2 leases",
        )
        ids, pids = {p[0] for p in procs}, {p[1] for p in procs}
        assert (
            len(ids) == 2 and len(pids) == 2 and proc.pid not in pids
        )  # one per worker
        alice, bob = server.api.user("alice"), server.api.user("bob")
        room_create(server, alice, "lobby")
        # The kernel spreads connections over the workers: open until both hold some.
        conns, where = [], {}
        for _ in range(5):
            for i in range(8):
                user = alice if i % 2 == 0 else bob
                conn, welcome = chat(server, user, "lobby")
                conns.append((user, conn, welcome["connection_id"]))
            where = _rows(env)["conns"]
            if len({where.get(cid) for _, _, cid in conns}) == 2:
                break
        assert len({where.get(cid) for _, _, cid in conns}) == 2, (
            "all sockets on one worker"
        )
        first_proc = where[conns[0][2]]
        sender = conns[0][1]
        receiver = next(c for _, c, cid in conns if where.get(cid) != first_proc)
        say(sender, "across workers", "w-1")
        assert Frames(receiver).until(is_message("across workers"))["seq"] == 1
        # SIGTERM to the supervisor drains every worker: 1012 everywhere, exit 0.
        proc.send_signal(signal.SIGTERM)
        assert {close_code(c) for _, c, _ in conns} == {1012}
        assert proc.wait(60) == 0
        assert _rows(env) == {"procs": [], "conns": {}}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()
