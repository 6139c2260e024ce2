"""The project under the other ASGI servers run_all compares (quick fanout, seconds).

Each server serves the project's app in the project's env (servers.start_project); the
load generator talks the project's protocol to it and labels the records with the
target. These assert that the tools run and count correctly (by `seq`) under each
server, never a timing.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bench import report, servers
from bench.tests.conftest import run_all_quick

pytestmark = pytest.mark.requires_app

OTHER_SERVERS = [s for s in servers.PROJECT_SERVERS if s != "uvicorn"]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("server", OTHER_SERVERS)
def test_run_all_quick_fanout_under_another_asgi_server(
    server: str, tmp_path: Path
) -> None:
    target = f"project-{server}"
    proc = run_all_quick(tmp_path, "--targets", target, "--scenarios", "fanout")
    log = tmp_path / "embedded" / f"{target}-fanout.log"
    server_log = log.read_text()[-3000:] if log.exists() else ""
    assert proc.returncode == 0, proc.stderr[-3000:] + server_log
    recs = [
        orjson.loads(line)
        for line in (tmp_path / "embedded" / "results.jsonl").read_bytes().splitlines()
    ]
    assert {r["target"] for r in recs} == {target}
    points = [r for r in recs if r["kind"] == "point"]
    assert [p["rate"] for p in points] == [5, 10]  # run_all's quick sweep
    for p in points:
        # The project's protocol (welcome, seq) whatever the server: counted by seq.
        assert p["count_by"] == "seq" and p["connect_failures"] == {}
        assert p["delivered"] == p["expected"] == p["sent"] * 20 > 0
        assert (p["lost"], p["dup"], p["stored_twice"]) == (0, 0, 0)
        assert p["seq_out_of_range"] == 0 and p["errors"] == {}
    ((name, figures),) = report.asgi_server_rows(recs)[1:]
    assert name == server and figures[0] == max(p["delivered_per_s"] for p in points)
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "### ASGI server for the project" in text
    assert f"--target project --target-label {target}" in text
