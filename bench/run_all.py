"""Run every scenario against the project and its peers, then write BENCHMARKS.md.

    python bench/run_all.py                       # embedded mode, full size
    python bench/run_all.py --mode both           # embedded, then cluster (Redis + PG)
    python bench/run_all.py --quick --targets stock,ws --outdir /tmp/b   # seconds
    python bench/run_all.py --targets project,picows --scenarios fanout  # issue 13
    python bench/run_all.py --scenarios fanout,capacity \\
        --targets project,project-daphne,project-hypercorn,project-granian
    python bench/run_all.py --mode cluster --targets project --scenarios storm

The last one runs the project under each ASGI server it can run under (same app, env,
database and load; `project` is uvicorn, as `manage.py serve`) for the report to compare.
The `storm` scenario runs against `project` only. Cluster mode: two processes, both on
the server core, the first SIGKILLed mid-flow, then again with SIGTERM (its drain, 1012).
Embedded mode: its restart variant (RESTART): the one process gets SIGTERM, exits, and is
started again here on the same port with the same database, as `make run` would be.

Each server is started fresh for each scenario and pinned to core 0; the load generator
runs pinned to core 1. The project gets a throwaway database (SQLite in a temp dir, or a
PostgreSQL database created and dropped here) and its abuse limits raised.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import as the bench package
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import orjson

from bench import plot as plot_mod
from bench import report, servers
from bench.loadgen import SCENARIOS as LOADGEN_SCENARIOS
from bench.loadgen import check_url

#: the load generator's scenarios, and search (manage.py bench_search, no sockets)
SCENARIOS = (*LOADGEN_SCENARIOS, "search")
#: scenarios only the project serves (the peers have no notify socket, no edits, no
#: search)
PROJECT_ONLY = ("fanout_activity", "fanout_updates", "storm", "search")
#: Issue 16: message search through the views (`manage.py bench_search`), on the
#: mode's database (embedded: SQLite FTS5; cluster: PostgreSQL full-text)
SEARCH_ARGS = {
    "full": "--messages 1000000 --runs 20",
    "quick": "--messages 2000 --runs 3",
}
# The project under the other ASGI servers (servers.PROJECT_SERVERS): the same app, env,
# database and load (loadgen --target project); only the server differs, so the choice
# of server is a measurement. Run when named in --targets.
PROJECT_VARIANTS = tuple(
    f"project-{name}" for name in servers.PROJECT_SERVERS if name != "uvicorn"
)
#: The peers: `stock` (Channels' tutorial on daphne), `ws` (bare websockets), `picows`
#: (bare picows, issue 13's yardstick for fanout). Each serves the same bare broadcast
#: and takes part in every scenario that is not PROJECT_ONLY.
PEERS = ("stock", "ws", "picows")
TARGETS = ("project", *PEERS, *PROJECT_VARIANTS)
DEFAULT_TARGETS = ("project", *PEERS)
VARIANT_SCENARIOS = ("capacity", "fanout", "rooms")

# Scenario arguments, full size (issue 7's anchors) and quick (CI smoke, seconds).
FULL = {
    # Issue 13 asks for 50,000; this machine's RLIMIT_NOFILE is 20,000 (hard), for the
    # server and for the load generator: 19,000 is the most both can hold. Four source
    # addresses: from one, the TIME_WAIT ports of earlier runs slowed connects past
    # 14,000 (the server was waiting, not busy).
    "capacity": "--sockets 19000 --room-size 100 --concurrency 100 --hold 5 --settle 3"
    " --source-ips 4",
    # 300 and 400: since frames of one commit go out as one write, the saturation point
    # lies between 200 and 500 for the project and for picows.
    "fanout": "--members 1000 --publishers 10 --duration 10 --settle 3 --drain 10"
    " --sweep 1,2,5,10,15,20,30,50,100,200,300,400,500",
    # Issue 15: fanout's room, every member also on a notify socket (2,000 sockets).
    "fanout_activity": "--members 1000 --publishers 10 --duration 10 --settle 3"
    " --drain 10 --sweep 1,2,5,10,15,20,30,50,100,200,500",
    # Issue 16: fanout's room, its publishers editing: message_updated to every member.
    "fanout_updates": "--members 1000 --publishers 10 --duration 10 --settle 3"
    " --drain 10 --sweep 1,2,5,10,15,20,30,50,100,200,500",
    "rooms": "--rooms 500 --room-size 4 --duration 10 --settle 3 --drain 10"
    " --sweep 50,100,200,500,1000,2000,5000,10000,20000",
    # 100,000 cycles is the figure; the time bound stops a target that is slower
    # than about 170 cycles/s (the report then says how many cycles it managed).
    "soak": "--cycles 100000 --concurrency 50 --rooms 10 --max-duration 600 --settle 5"
    " --source-ips 4",
    # Issue 13: 10,000 sockets in 200 rooms, 20 messages/s, one of two processes killed.
    "storm": "--sockets 10000 --rooms 200 --rate 20 --concurrency 100 --settle 3"
    " --kill-after 5 --tail 3 --drain 20 --backoff-base 1 --backoff-cap 15"
    " --reconnect-timeout 300 --source-ips 4",
}
QUICK = {
    "capacity": "--sockets 100 --room-size 20 --concurrency 50 --hold 1 --settle 1",
    "fanout": "--members 20 --publishers 4 --duration 3 --sweep 5,10 --settle 1.5"
    " --drain 5",
    "fanout_activity": "--members 20 --publishers 4 --duration 3 --sweep 5,10"
    " --settle 1.5 --drain 5",
    "fanout_updates": "--members 20 --publishers 4 --duration 3 --sweep 5,10"
    " --settle 1.5 --drain 5",
    "rooms": "--rooms 10 --room-size 4 --duration 3 --sweep 10,20 --settle 1.5 --drain 5",
    "soak": "--cycles 150 --concurrency 10 --rooms 5 --max-duration 30 --settle 1"
    " --sample-interval 0.5",
    "storm": "--sockets 60 --rooms 4 --rate 20 --concurrency 20 --settle 1"
    " --kill-after 1.5 --tail 1 --drain 5 --backoff-base 0.3 --backoff-cap 2"
    " --reconnect-timeout 30",
}
#: The signals the storm is run with in each mode, each against fresh processes: a pair
#: in cluster mode; in embedded mode the one process, started again after its SIGTERM.
STORM_MODE_SIGNALS = {"cluster": ("KILL", "TERM"), "embedded": ("RESTART",)}
STORM_SIGNALS = (*STORM_MODE_SIGNALS["cluster"], *STORM_MODE_SIGNALS["embedded"])
#: The storm's servers (and load generator, which reads it) run with a short registry
#: lease: the presence check waits for a killed process's rows to be swept, up to a
#: lease and a renewal past the kill (30 s by default). Long enough that a survivor
#: busy with 10,000 welcomes still renews in time (every third of it).
STORM_ENV = {"WS_PROCESS_LEASE_SECONDS": "10"}
# Wall-clock bound of one load generator run (it also bounds itself).
TIMEOUT = {
    "capacity": 900,
    "fanout": 1800,
    "fanout_activity": 1800,
    "fanout_updates": 1800,
    "rooms": 1800,
    "soak": 900,
    "storm": 900,
    "search": 1800,
}


def merged(
    earlier: bytes, fresh: list[dict], outdir: Path, args: argparse.Namespace
) -> tuple[list[dict], list[str]]:
    """With --merge: the earlier rows (and their load generator commands) of every
    (scenario, target) this run did not run, to report beside the fresh ones."""
    if not earlier:
        return [], []
    ran = {(s, t) for s in args.scenarios for t in args.targets}
    ran |= {(r.get("scenario"), r.get("target")) for r in fresh}
    rows = [orjson.loads(x) for x in earlier.splitlines() if x.strip()]
    kept = [r for r in rows if (r.get("scenario"), r.get("target")) not in ran]
    previous = outdir / "loadgen_commands.txt"
    commands = [
        c
        for c in (previous.read_text().splitlines() if previous.exists() else [])
        if not any(f" {s} " in c and f"--target {t} " in c for s, t in ran)
    ]
    return kept, commands


def superseded(command: str, args: argparse.Namespace) -> bool:
    """Whether this run re-ran every (scenario, target) of an earlier run_all `command`:
    none of its rows are left in the report, so neither is its line."""
    words = shlex.split(command)

    def value(flag: str) -> list[str]:
        return words[words.index(flag) + 1].split(",") if flag in words else []

    return all(
        s in args.scenarios and t in args.targets
        for s in value("--scenarios")
        for t in value("--targets")
    ) and bool(value("--scenarios") and value("--targets"))


def log(line: str) -> None:
    print(f"[run_all] {line}", file=sys.stderr, flush=True)


def project_server(target: str) -> str | None:
    """The ASGI server a project target runs under ("project" is uvicorn); None for a peer."""
    if target == "project":
        return "uvicorn"
    if target in PROJECT_VARIANTS:
        return target.removeprefix("project-")
    return None


class Mode:
    """The databases and layer of one mode; cluster creates and drops its own PG db."""

    def __init__(self, name: str, args: argparse.Namespace, workdir: Path) -> None:
        self.name = name
        self.args = args
        self.workdir = workdir
        self.pg_db: str | None = None
        self.redis_url = args.redis_url if name == "cluster" else None
        self.project_env: dict[str, str] | None = None

    def __enter__(self) -> Mode:
        if not any(project_server(t) for t in self.args.targets):
            return self
        if self.name == "cluster":
            import psycopg

            self.pg_db = f"bench_{int(time.time())}_{os.getpid()}"
            with psycopg.connect(self.args.pg_admin_url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.pg_db}"')
            db_url = self.args.pg_admin_url.rsplit("/", 1)[0] + f"/{self.pg_db}"
        else:
            db_url = f"sqlite:///{self.workdir / 'bench.sqlite3'}"
        self.project_env = servers.project_env(
            database_url=db_url, redis_url=self.redis_url
        )
        log(f"{self.name}: migrating the project database")
        servers.migrate(self.project_env, self.workdir / "migrate.log")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pg_db is not None:
            import psycopg

            with psycopg.connect(self.args.pg_admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_db}" WITH (FORCE)')
            log(f"{self.name}: dropped database {self.pg_db}")

    def start(
        self,
        target: str,
        log_path: Path,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> servers.Server:
        """Start a target; a project target with the mode's env (plus `env`)."""
        cpu = self.args.server_cpu
        server = project_server(target)
        if server is not None:
            assert self.project_env is not None
            return servers.start_project(
                {**self.project_env, **(env or {})},
                port,
                cpu=cpu,
                log_path=log_path,
                server=server,
            )
        if target == "stock":
            return servers.start_stock_peer(
                cpu=cpu, redis_url=self.redis_url, log_path=log_path
            )
        if target == "picows":
            return servers.start_picows_peer(cpu=cpu, log_path=log_path)
        return servers.start_ws_peer(cpu=cpu, log_path=log_path)


def loadgen_cmd(
    scenario: str,
    target: str,
    server: servers.Server,
    out: Path,
    mode: str,
    quick: bool,
    client_cpu: int | None,
    extra: tuple[str, ...] = (),
) -> list[str]:
    # Every project target speaks the project's protocol (JWT, welcome, seq); the label
    # keeps each server's records apart.
    protocol = "project" if project_server(target) else target
    cmd = [
        sys.executable,
        str(servers.BENCH_DIR / "loadgen.py"),
        scenario,
        "--target",
        protocol,
        *(["--target-label", target] if protocol != target else []),
        "--url",
        server.url,
        "--server-pid",
        str(server.pid),
        "--out",
        str(out),
        "--label",
        mode,
    ]
    cmd += (QUICK if quick else FULL)[scenario].split()
    cmd += extra
    return servers.pinned(cmd, client_cpu)


def run_mode(
    mode: Mode, args: argparse.Namespace, out: Path, commands: list[str]
) -> bool:
    """Every scenario against every target; False if anything failed to run."""
    ok = True

    # The other ASGI servers are compared on the socket path (VARIANT_SCENARIOS); the
    # soak, a long run, compares the project with its peers only.
    def runs(target: str, scenario: str) -> bool:
        if scenario in PROJECT_ONLY:
            return target == "project"
        return target not in PROJECT_VARIANTS or scenario in VARIANT_SCENARIOS

    # Full runs start a fresh server per scenario (clean RSS and fd baselines); quick
    # runs keep one per target, as their figures mean nothing anyway.
    if args.quick:
        plan = [(t, [s for s in args.scenarios if runs(t, s)]) for t in args.targets]
    else:
        plan = [(t, [s]) for s in args.scenarios for t in args.targets if runs(t, s)]
    plan = [
        (t, [s for s in scenarios if s not in ("storm", "search")])
        for t, scenarios in plan
    ]
    plan = [(t, scenarios) for t, scenarios in plan if scenarios]
    for target, scenarios in plan:
        server_log = out.parent / f"{target}-{'-'.join(scenarios)}.log"
        try:
            server = mode.start(target, server_log)
        except servers.ServerError as exc:
            log(f"{target} did not start: {exc}")
            ok = False
            continue
        try:
            for scenario in scenarios:
                log(f"{mode.name}: {scenario} against {target}")
                ok = run_one(mode, args, scenario, target, server, out, commands) and ok
        finally:
            server.stop()
    if "search" in args.scenarios and "project" in args.targets:
        ok = run_search(mode, args, out, commands) and ok
    if "storm" in args.scenarios and "project" in args.targets:
        ok = run_storm(mode, args, out, commands) and ok
    return ok


def run_search(
    mode: Mode, args: argparse.Namespace, out: Path, commands: list[str]
) -> bool:
    """`manage.py bench_search` on the mode's database (it rolls its seed back)."""
    assert mode.project_env is not None
    cmd = [
        sys.executable,
        "manage.py",
        "bench_search",
        *SEARCH_ARGS["quick" if args.quick else "full"].split(),
        *("--json", str(out), "--label", mode.name),
    ]
    commands.append(
        shlex.join(cmd).replace(sys.executable, "python").replace(f"{out}", "RESULTS")
    )
    log(f"{mode.name}: search (manage.py bench_search)")
    try:
        rc = subprocess.run(
            servers.pinned(cmd, args.server_cpu),
            cwd=servers.PROJECT_ROOT,
            env=mode.project_env,
            stdin=subprocess.DEVNULL,
            timeout=TIMEOUT["search"],
        ).returncode
    except subprocess.TimeoutExpired:
        rc = -1
    if rc != 0:
        log(f"bench_search failed ({rc})")
    return rc == 0


def run_storm(
    mode: Mode, args: argparse.Namespace, out: Path, commands: list[str]
) -> bool:
    """The storm with each of the mode's signals (--storm-signals picks among them)."""
    ok = True
    signals = [s for s in args.storm_signals if s in STORM_MODE_SIGNALS[mode.name]]
    if not signals:
        log(
            f"{mode.name}: storm skipped (its signals: {STORM_MODE_SIGNALS[mode.name]})"
        )
    for sig in signals:
        if sig == "RESTART":
            ok = run_storm_restart(mode, args, out, commands) and ok
            continue
        pair: list[servers.Server] = []
        try:
            for k in range(2):
                log_path = out.parent / f"project-storm-{sig.lower()}-{k}.log"
                pair.append(mode.start("project", log_path, env=STORM_ENV))
        except servers.ServerError as exc:
            log(f"storm ({sig}): a project process did not start: {exc}")
            for server in pair:
                server.stop()
            ok = False
            continue
        victim, survivor = pair
        extra = (
            *("--peer-url", survivor.url, "--peer-pid", str(survivor.pid)),
            *("--kill-pid", str(victim.pid), "--kill-signal", sig),
        )
        log(f"{mode.name}: storm ({sig}) against project")
        try:
            ok = (
                run_one(
                    mode,
                    args,
                    "storm",
                    "project",
                    victim,
                    out,
                    commands,
                    extra,
                    STORM_ENV,
                )
                and ok
            )
        finally:
            for server in pair:
                server.stop()
    return ok


def run_storm_restart(
    mode: Mode, args: argparse.Namespace, out: Path, commands: list[str]
) -> bool:
    """One project process; the load generator TERMs it, a Restarter starts it again
    on its port exactly as mode.start started it, and its clients come back to it."""
    try:
        first = mode.start(
            "project", out.parent / "project-storm-restart-0.log", env=STORM_ENV
        )
    except servers.ServerError as exc:
        log(f"storm (RESTART): the project did not start: {exc}")
        return False
    restarter = servers.Restarter(
        first,
        lambda port: mode.start(
            "project", out.parent / "project-storm-restart-1.log", port, STORM_ENV
        ),
    )
    extra = ("--kill-pid", str(first.pid), "--kill-signal", "RESTART")
    log(f"{mode.name}: storm (RESTART) against project")
    try:
        ok = run_one(
            mode, args, "storm", "project", first, out, commands, extra, STORM_ENV
        )
    finally:
        restarter.stop()
    if restarter.error is not None:
        log(f"storm (RESTART): the project did not start again: {restarter.error}")
        ok = False
    return ok


def run_one(
    mode: Mode,
    args: argparse.Namespace,
    scenario: str,
    target: str,
    server: servers.Server,
    out: Path,
    commands: list[str],
    extra: tuple[str, ...] = (),
    env_extra: dict[str, str] | None = None,
) -> bool:
    """One load generator run, pinned, bounded in time."""
    cmd = loadgen_cmd(
        scenario, target, server, out, mode.name, args.quick, args.client_cpu, extra
    )
    shown = (
        shlex.join(cmd)
        .replace(sys.executable, "python")
        .replace(f"{servers.PROJECT_ROOT}/", "")
    )
    commands.append(shown)
    env = servers.base_env()
    if project_server(target):
        assert mode.project_env is not None
        env = {**mode.project_env, **(env_extra or {})}
    try:
        rc = subprocess.run(
            cmd,
            cwd=servers.PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=TIMEOUT[scenario],
        ).returncode
    except subprocess.TimeoutExpired:
        log(f"load generator timed out: {shown}")
        rc = -1
    if rc != 0:
        log(f"load generator failed ({rc}); server log: {server.log_path}")
    return rc == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small N, seconds (CI)")
    parser.add_argument(
        "--mode", choices=("embedded", "cluster", "both"), default="embedded"
    )
    parser.add_argument(
        "--targets",
        default=",".join(DEFAULT_TARGETS),
        help=f"comma-separated, of: {', '.join(TARGETS)}",
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--outdir", type=Path, help="default bench/results[/quick]")
    parser.add_argument(
        "--storm-signals",
        default=",".join(STORM_SIGNALS),
        help="storm: the signals to stop a process with, each on fresh processes; "
        "cluster mode runs KILL and TERM of these, embedded mode RESTART",
    )
    parser.add_argument(
        "--report",
        type=Path,
        help="default BENCHMARKS.md (quick: OUTDIR/BENCHMARKS.md)",
    )
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--no-pin", action="store_true", help="do not use taskset")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the earlier results of every scenario and target not run now "
        "(bench/results/<mode>/results.jsonl is committed): a partial run updates "
        "its rows of BENCHMARKS.md and leaves the others",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: rewrite the report from the results of earlier runs",
    )
    parser.add_argument(
        "--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args(argv)
    args.targets = [t for t in args.targets.split(",") if t]
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    args.storm_signals = [s for s in args.storm_signals.split(",") if s]
    bad = (
        [t for t in args.targets if t not in TARGETS]
        + [s for s in args.scenarios if s not in SCENARIOS]
        + [s for s in args.storm_signals if s not in STORM_SIGNALS]
    )
    if bad:
        parser.error(f"unknown target or scenario: {', '.join(bad)}")
    for url in (args.redis_url, args.pg_admin_url):
        host = (
            url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1].rsplit(":", 1)[0]
        )
        check_url(f"ws://{host}/")  # the same loopback-only rule as the load generator
    if args.no_pin:
        args.server_cpu = args.client_cpu = None
    outdir = args.outdir or servers.BENCH_DIR / "results" / (
        "quick" if args.quick else ""
    )
    report_path = args.report or (
        outdir / "BENCHMARKS.md"
        if args.quick
        else servers.PROJECT_ROOT / "BENCHMARKS.md"
    )
    modes = ["embedded", "cluster"] if args.mode == "both" else [args.mode]
    this_command = "python bench/run_all.py " + shlex.join(
        argv if argv is not None else sys.argv[1:]
    )
    if args.report_only:
        modes = []  # rewrite BENCHMARKS.md from the results already on disk
    ok = True
    commands: list[str] = []
    by_mode: dict[str, list[dict]] = {}
    for name in modes:
        out = outdir / name / "results.jsonl"
        out.parent.mkdir(parents=True, exist_ok=True)
        # With --merge the earlier rows stay in the file while the load generators
        # append theirs (a run that dies loses nothing); sorted out when it is done.
        earlier = out.read_bytes() if args.merge and out.exists() else b""
        if earlier and not earlier.endswith(b"\n"):
            earlier += b"\n"
        out.write_bytes(earlier)
        ran: list[str] = []
        with (
            tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp,
            Mode(name, args, Path(tmp)) as mode,
        ):
            ok = run_mode(mode, args, out, ran) and ok
        appended = out.read_bytes()[len(earlier) :]
        fresh = [orjson.loads(x) for x in appended.splitlines() if x.strip()]
        kept, kept_commands = merged(earlier, fresh, out.parent, args)
        out.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in kept + fresh))
        (out.parent / "loadgen_commands.txt").write_text(
            "".join(f"{c}\n" for c in kept_commands + ran)
        )
        by_mode[name] = kept + fresh
    # Keep the other mode's section when only one mode was run now.
    for other in ("embedded", "cluster"):
        prev = outdir / other / "results.jsonl"
        if other not in by_mode and prev.exists() and prev.stat().st_size:
            by_mode[other] = [
                orjson.loads(x) for x in prev.read_bytes().splitlines() if x.strip()
            ]
    plot_rel = None
    if any(r.get("kind") == "point" for rs in by_mode.values() for r in rs):
        png = plot_mod.plot(
            [r for rs in by_mode.values() for r in rs], outdir / "latency.png"
        )
        try:
            plot_rel = str(png.resolve().relative_to(report_path.resolve().parent))
        except ValueError:
            plot_rel = str(png)
    # Every load generator command behind the figures shown, each mode's from its run.
    for name in ("embedded", "cluster"):
        recorded = outdir / name / "loadgen_commands.txt"
        if name in by_mode and recorded.exists():
            commands += recorded.read_text().splitlines()
    # Each mode's figures come from the run that made them: name that run's command.
    command_lines = []
    for name in ("embedded", "cluster"):
        recorded = outdir / name / "command.txt"
        if name in modes:
            before = [
                c
                for c in (
                    recorded.read_text().splitlines()
                    if args.merge and recorded.exists()
                    else []
                )
                if not superseded(c, args)
            ]
            recorded.write_text(
                "".join(f"{c}\n" for c in dict.fromkeys([*before, this_command]))
            )
        if name in by_mode and recorded.exists():
            command_lines += [
                f"{name}: {c}" for c in recorded.read_text().splitlines() if c
            ]
    text = report.render(
        by_mode,
        command="\n    ".join(command_lines or [this_command]),
        machine=report.machine_info(),
        plot=plot_rel,
        commands=commands,
        quick=args.quick,
    )
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(text)
    log(f"wrote {report_path}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
