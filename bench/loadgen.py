"""The load generator: capacity, fanout(_activity), rooms, soak, storm against a server.

    python bench/loadgen.py fanout --target stock --url ws://127.0.0.1:9001 \\
        --members 1000 --publishers 10 --sweep 1,2,5,10,20 --out results.jsonl

One process, asyncio (uvloop when installed), many sockets, frames handled inside the
protocol callbacks. Targets only loopback addresses; every count and duration is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import ipaddress
import os
import resource
import secrets
import sys
import time
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

if __package__ in (None, ""):  # run as a script: import as the bench package
    sys.path[0] = str(Path(__file__).resolve().parent.parent)
if (
    __name__ == "__main__"
):  # one module whether run or imported (bench.storm imports it)
    sys.modules.setdefault("bench.loadgen", sys.modules[__name__])

import orjson

from bench import procstat, stats
from bench.client import WSClient, open_client, perf_ns

#: how to talk to the server: the project's protocol, or a peer's bare broadcast (the
#: peers differ only in what serves it)
TARGETS = ("project", "stock", "ws", "picows")
SCENARIOS = (
    "capacity",
    "fanout",
    "fanout_activity",
    "fanout_updates",
    "rooms",
    "soak",
    "storm",
)
#: fanout_activity: every member belongs to the room and also holds a notify socket, so
#: each message goes out twice per member (its chat frame and its `activity` frame)
ACTIVITY = "fanout_activity"
#: fanout_updates: fanout's room, but its publishers edit their one message again and
#: again, so what goes out to every member is `message_updated` (issue 16: changes fan
#: out at the rate new messages do); counted by body, like a peer's messages
UPDATES = "fanout_updates"

# Hard bounds: the generator refuses anything larger.
MAX_SOCKETS = 20_000
MAX_PHASE_SECONDS = 600.0
MAX_RATE = 500_000.0
MAX_SWEEP_POINTS = 30
MAX_CYCLES = 1_000_000
MAX_SOAK_SECONDS = 3_600.0
MAX_BODY = 4_000


class BenchError(ValueError):
    """A refused configuration (non-loopback target, bound exceeded)."""


def check_url(url: str) -> tuple[str, int]:
    """Host and port of a ws:// URL on this machine; anything else is refused."""
    parts = urlsplit(url)
    if parts.scheme != "ws":
        raise BenchError(f"only ws:// URLs are supported, got {url!r}")
    host = parts.hostname or ""
    if host == "localhost":
        host = "127.0.0.1"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise BenchError(f"refusing non-loopback host {host!r}") from None
    if not ip.is_loopback:
        raise BenchError(f"refusing non-loopback host {host!r}")
    return host, parts.port or 80


def parse_rates(text: str) -> list[float]:
    """'500,1000,2000' -> [500.0, 1000.0, 2000.0]."""
    return [float(x) for x in text.split(",") if x.strip()]


def add_arguments(
    parser: argparse.ArgumentParser, *, scenario: str | None = None
) -> None:
    """The generator's options (shared with the manage.py commands)."""
    if scenario is None:
        parser.add_argument("scenario", choices=SCENARIOS)
    a = parser.add_argument
    a("--target", choices=TARGETS, default="project")
    a("--url", default="ws://127.0.0.1:8000", help="server base URL (loopback only)")
    a(
        "--server-pid",
        type=int,
        help="server pid (with children); default: the port's listener",
    )
    a("--out", help="append JSON-lines results here")
    a("--label", default="", help="free text stored in each record (e.g. the mode)")
    a(
        "--target-label",
        help="the records' `target` (default --target): e.g. project-daphne, the "
        "project under another ASGI server, which the report shows apart",
    )
    a("--sockets", type=int, default=1000, help="capacity: idle sockets to open")
    a("--members", type=int, default=100, help="fanout: members of the one room")
    a("--publishers", type=int, default=10, help="fanout: members that publish")
    a(
        "--rooms",
        type=int,
        default=None,
        help="rooms: rooms (default 100); soak: rooms (10)",
    )
    a("--room-size", type=int, default=None, help="rooms: members (4); capacity: (100)")
    a("--rate", type=float, default=10.0, help="offered messages/s, all publishers")
    a(
        "--sweep",
        type=parse_rates,
        help="comma-separated rates: find the saturation point",
    )
    a("--sweep-all", action="store_true", help="do not stop after two failing points")
    a("--duration", type=float, default=10.0, help="seconds of sending per rate")
    a("--body-size", type=int, default=64, help="characters in each message body")
    a(
        "--concurrency",
        type=int,
        default=100,
        help="handshakes in flight / soak workers",
    )
    a("--settle", type=float, default=2.0, help="seconds to let joins settle")
    a("--drain", type=float, default=10.0, help="max seconds to wait for late frames")
    a(
        "--p99-bound-ms",
        type=float,
        default=500.0,
        help="sweep: p99 that still counts as ok",
    )
    a("--hold", type=float, default=3.0, help="capacity: seconds to hold sockets open")
    a("--cycles", type=int, default=1000, help="soak: connect/disconnect cycles")
    a("--max-duration", type=float, default=120.0, help="soak: seconds at most")
    a(
        "--sample-interval",
        type=float,
        default=1.0,
        help="soak: seconds between samples",
    )
    a("--source-ips", type=int, default=1, help="spread sockets over 127.0.0.1..N")
    # storm: two processes of one cluster, the first (--url) killed mid-flow.
    a("--peer-url", help="storm: the survivor's base URL (loopback only)")
    a("--peer-pid", type=int, help="storm: the survivor's pid (default: its listener)")
    a(
        "--kill-pid",
        type=int,
        help="storm: the pid to signal; must listen on --url (default: its listener)",
    )
    a(
        "--kill-signal",
        choices=("KILL", "TERM", "RESTART"),
        default="KILL",
        help="storm: KILL or TERM the first of two processes; RESTART: TERM the only "
        "one, which the bench starts again on the same port (no --peer-url)",
    )
    a("--kill-after", type=float, default=3.0, help="storm: seconds of flow, then kill")
    a("--tail", type=float, default=2.0, help="storm: seconds of flow after all back")
    a(
        "--reconnect-timeout",
        type=float,
        default=120.0,
        help="storm: seconds a client keeps trying after its socket dropped",
    )
    a("--backoff-base", type=float, default=1.0, help="storm: first jitter window, s")
    a("--backoff-cap", type=float, default=15.0, help="storm: largest window, s")
    a(
        "--publish-via",
        choices=("both", "survivor"),
        default="both",
        help="storm: who posts (survivor: no message is in flight on the killed one)",
    )
    a("--seed", type=int, default=0, help="storm: seed of the jitter and publishers")
    a("--handshake-timeout", type=float, default=30.0)
    a("--no-uvloop", action="store_true")
    a("--quiet", action="store_true", help="no progress lines")


def validate(o: dict[str, Any]) -> None:
    """Refuse a non-loopback URL and anything past the hard bounds."""
    check_url(o["url"])
    if o.get("rooms") is None:
        o["rooms"] = {"soak": 10, "storm": 200}.get(o["scenario"], 100)
    if o.get("room_size") is None:
        o["room_size"] = 100 if o["scenario"] == "capacity" else 4
    rates = o.get("sweep") or [o["rate"]]
    sockets = {
        "capacity": o["sockets"],
        "fanout": o["members"],
        ACTIVITY: 2 * o["members"],
        UPDATES: o["members"],
        "rooms": o["rooms"] * o["room_size"],
        "soak": o["concurrency"],
        "storm": o["sockets"],
    }[o["scenario"]]
    if o["scenario"] == "storm":
        validate_storm(o)
    if o["scenario"] == ACTIVITY and o["target"] != "project":
        raise BenchError("fanout_activity runs against the project only (notify)")
    if o["scenario"] == UPDATES and o["target"] != "project":
        raise BenchError("fanout_updates runs against the project only (edits)")
    checks = [
        (
            1 <= sockets <= MAX_SOCKETS,
            f"sockets must be 1..{MAX_SOCKETS}, got {sockets}",
        ),
        (
            0 < o["duration"] <= MAX_PHASE_SECONDS,
            f"--duration must be 0..{MAX_PHASE_SECONDS}",
        ),
        (all(0 < r <= MAX_RATE for r in rates), f"rates must be 0..{MAX_RATE}"),
        (len(rates) <= MAX_SWEEP_POINTS, f"at most {MAX_SWEEP_POINTS} sweep points"),
        (1 <= o["publishers"], "--publishers must be at least 1"),
        (1 <= o["concurrency"] <= MAX_SOCKETS, "--concurrency out of range"),
        (1 <= o["cycles"] <= MAX_CYCLES, f"--cycles must be 1..{MAX_CYCLES}"),
        (0 < o["max_duration"] <= MAX_SOAK_SECONDS, "--max-duration out of range"),
        (0.05 <= o["sample_interval"] <= 60, "--sample-interval out of range"),
        (16 <= o["body_size"] <= MAX_BODY, f"--body-size must be 16..{MAX_BODY}"),
        (1 <= o["source_ips"] <= 250, "--source-ips must be 1..250"),
        (
            0 <= o["settle"] <= 60 and 0 <= o["drain"] <= 120 and 0 <= o["hold"] <= 600,
            "--settle/--drain/--hold out of range",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise BenchError(message)


def validate_storm(o: dict[str, Any]) -> None:
    """The storm's own bounds: two loopback servers, rooms with members on both (or, to
    restart, one server, every member on it)."""
    if o["target"] != "project":
        raise BenchError("storm runs against the project only (welcome, seq, since)")
    restart = o["kill_signal"] == "RESTART"
    if restart and (o.get("peer_url") or o["publish_via"] != "both"):
        raise BenchError("storm RESTART has one server: no --peer-url, no survivor")
    if not restart and not o.get("peer_url"):
        raise BenchError("storm needs --peer-url (the survivor)")
    if not restart and check_url(o["peer_url"]) == check_url(o["url"]):
        raise BenchError("--url and --peer-url must be two servers")
    per_room = 1 if restart else 2
    checks = [
        (
            1 <= o["rooms"] and per_room * o["rooms"] <= o["sockets"],
            f"storm: {per_room} socket(s) a room",
        ),
        (0 <= o["kill_after"] <= MAX_PHASE_SECONDS, "--kill-after out of range"),
        (0 <= o["tail"] <= MAX_PHASE_SECONDS, "--tail out of range"),
        (0 < o["reconnect_timeout"] <= MAX_PHASE_SECONDS, "--reconnect-timeout"),
        (0 < o["backoff_base"] <= o["backoff_cap"] <= 120, "--backoff-base/-cap"),
    ]
    for ok, message in checks:
        if not ok:
            raise BenchError(message)


def slugs_for(scenario: str, o: dict[str, Any]) -> list[str]:
    """The room slugs a scenario uses (the same names on every target)."""
    if scenario == "fanout":
        return ["bench-fanout"]
    if scenario == ACTIVITY:
        # Its own room: its members all belong (Joined), fanout's do not.
        return ["bench-activity"]
    if scenario == UPDATES:
        return ["bench-updates"]
    if scenario == "rooms":
        return [f"bench-room-{i:04d}" for i in range(o["rooms"])]
    if scenario == "capacity":
        n = -(-o["sockets"] // o["room_size"])
        return [f"bench-cap-{i:04d}" for i in range(n)]
    if scenario == "storm":
        return [f"bench-storm-{i:04d}" for i in range(o["rooms"])]
    return [f"bench-soak-{i:03d}" for i in range(o["rooms"])]


def users_for(scenario: str, o: dict[str, Any]) -> int:
    """How many distinct users (one per socket) a scenario needs."""
    return {
        "capacity": o["sockets"],
        "fanout": o["members"],
        ACTIVITY: o["members"],
        UPDATES: o["members"],
        "rooms": o["rooms"] * o["room_size"],
        "soak": o["concurrency"],
        "storm": o["sockets"],
    }[scenario]


def log(line: str) -> None:
    """A progress line on stderr."""
    print(line, file=sys.stderr, flush=True)


class Phase:
    """One rate of a chat scenario: what was sent and what came back."""

    __slots__ = (
        "tag",
        "room_sent",
        "lat",
        "received",
        "stale",
        "seq_base",
        "t_last",
        "seq_out_of_range",
        "activity",
        "activity_lat",
    )

    def __init__(self, tag: str, n_rooms: int, seq_base: list[int] | None) -> None:
        self.tag = tag
        self.room_sent = [0] * n_rooms
        self.lat = array("q")  # latency samples, ns
        self.received = 0
        self.stale = 0
        self.seq_base = seq_base
        self.t_last = 0
        self.seq_out_of_range = 0
        self.activity = 0  # activity frames received (also counted in `received`)
        self.activity_lat = array("q")


class Runner:
    """Runs one scenario against one server and returns its result records."""

    def __init__(self, o: dict[str, Any], tokens: list[str] | None) -> None:
        self.o = o
        self.target = o["target"]  # how to talk to the server (protocol, fixtures)
        self.name = o.get("target_label") or self.target  # which server, in the records
        self.host, self.port = check_url(o["url"])
        self.base = o["url"].rstrip("/")
        self.tokens = tokens
        self.run_id = secrets.token_hex(3)
        self.phase: Phase | None = None
        self.errors: Counter[str] = Counter()
        self.other_types: Counter[str] = Counter()
        self.bad_json = 0
        self.stray = 0
        self.records: list[dict] = []
        self.slugs = slugs_for(o["scenario"], o)
        self.needs_welcome = self.target == "project"
        self.pids = self._server_pids()
        self._hb_task: asyncio.Task | None = None
        self.clients: list[WSClient] = []
        #: fanout_activity: the user id of each token (notify paths name it)
        self.user_ids: list[int] = o.get("user_ids") or []
        #: fanout_activity: the index of the first notify socket (chat ones come first)
        self.first_notify = 1 << 62
        #: fanout_updates: client_id of each publisher's first message -> its socket,
        #: while their ids are learned; then each publisher's `edit_id`
        self.seeding: dict[str, WSClient] = {}
        self.edit_ids: dict[int, int] = {}
        self.seeded = asyncio.Event()

    # Plumbing

    def _server_pids(self) -> list[int]:
        if self.o.get("server_pid"):
            return procstat.process_tree(self.o["server_pid"])
        return procstat.listening_pids(self.port)

    def url(self, room: int, user: int) -> str:
        u = f"{self.base}/ws/chat/{self.slugs[room]}/"
        if user >= self.first_notify:  # fanout_activity: that user's notify socket
            user -= self.first_notify
            u = f"{self.base}/ws/notify/user/{self.user_ids[user]}/"
        if self.tokens is not None:
            u += f"?token={self.tokens[user]}"
        return u

    def local_addr(self, i: int) -> tuple[str, int] | None:
        n = self.o["source_ips"]
        return None if n <= 1 else (f"127.0.0.{1 + i % n}", 0)

    def record(self, kind: str, **fields: Any) -> dict:
        rec = {
            "kind": kind,
            "scenario": self.o["scenario"],
            "target": self.name,
            "label": self.o.get("label", ""),
            "run_id": self.run_id,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "server_pids": self.pids,
            **fields,
        }
        self.records.append(rec)
        if self.o.get("out"):
            with open(self.o["out"], "ab") as f:
                f.write(orjson.dumps(rec) + b"\n")
        return rec

    def progress(self, make_line: Callable[[float], str]) -> asyncio.Task:
        async def loop() -> None:
            t0 = time.perf_counter()
            while True:
                await asyncio.sleep(1.0)
                if not self.o["quiet"]:
                    log(make_line(time.perf_counter() - t0))

        return asyncio.create_task(loop())

    # Frames in

    def on_text(self, client: WSClient, data: bytes, now: int) -> None:
        """Every text frame of every socket goes through here."""
        try:
            d = orjson.loads(data)
            t = d.get("type")
            if t == "message_updated":  # fanout_updates: counted as its message
                d, t = d["message"], "message"
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
            self.bad_json += 1
            return
        if self.seeding and t == "message" and d.get("client_id") in self.seeding:
            self.edit_ids[self.seeding[d["client_id"]].index] = d["id"]
            if len(self.edit_ids) >= len(self.seeding):
                self.seeded.set()
        if t == "message" or t == "activity":
            ph = self.phase
            if ph is None:
                self.stray += 1
                return
            try:
                # An activity frame's preview is the body's first 140 characters.
                tag, n, ts = d["body" if t == "message" else "preview"].split(" ", 3)[
                    :3
                ]
            except (KeyError, AttributeError, ValueError):
                self.stray += 1
                return
            if tag != ph.tag:
                ph.stale += 1
                return
            if t == "activity":
                ph.activity += 1
                ph.activity_lat.append(now - int(ts))
            ph.lat.append(now - int(ts))
            ph.received += 1
            ph.t_last = now
            client.frames += 1
            stats.mark(client.seen, int(n))
            base = ph.seq_base
            if base is not None:
                seq = d.get("seq")
                if seq is None or not stats.mark(
                    client.seen_seq, seq - base[client.room] - 1
                ):
                    ph.seq_out_of_range += 1
        elif t == "welcome":
            client.welcome = {"heartbeat_interval": d.get("heartbeat_interval")}
            client.mark_ready()
        elif t == "error":
            self.errors[str(d.get("code"))] += 1
        else:
            self.other_types[str(t)] += 1

    # Sockets

    async def connect_many(
        self,
        specs: Sequence[tuple[int, int]],
        what: str,
        keep: list[WSClient] | None = None,
    ) -> tuple[list[WSClient], list[float], Counter[str], list[int]]:
        """Open one socket per (room, user) with bounded concurrency; wait until ready.

        Each ready socket is appended to `keep` at once (the heartbeat loop's list), so
        sockets opened early are kept alive while the rest still connect.
        """
        sem = asyncio.Semaphore(self.o["concurrency"])
        timeout = self.o["handshake_timeout"]
        ready_times: list[float] = []
        handshake_ns: list[int] = []
        failures: Counter[str] = Counter()

        async def one(i: int, room: int, user: int) -> WSClient:
            async with sem:
                c = await open_client(
                    self.url(room, user),
                    self.host,
                    self.port,
                    i,
                    room,
                    self.on_text,
                    local_addr=self.local_addr(i),
                    handshake_timeout=timeout,
                )
                if c.opened.result() and not self.needs_welcome:
                    c.mark_ready()
                try:
                    ok = await asyncio.wait_for(asyncio.shield(c.ready), timeout)
                except TimeoutError:
                    ok = False
                    c.error = c.error or "welcome_timeout"
                if ok:
                    ready_times.append(time.perf_counter())
                    handshake_ns.append(perf_ns() - c.t_start)
                    if keep is not None:
                        keep.append(c)
                else:
                    reason = c.error or (
                        f"close_{c.close_code}" if c.close_code else "failed"
                    )
                    failures[reason] += 1
                return c

        n = len(specs)
        prog = self.progress(
            lambda el: (
                f"[{what}] {el:5.0f}s ready {len(ready_times)}/{n} "
                f"({len(ready_times) / max(el, 1e-9):.0f}/s) failed {sum(failures.values())}"
            )
        )
        try:
            clients = await asyncio.gather(
                *(one(i, room, user) for i, (room, user) in enumerate(specs))
            )
        finally:
            prog.cancel()
        return list(clients), ready_times, failures, handshake_ns

    async def close_many(self, clients: Sequence[WSClient]) -> None:
        sem = asyncio.Semaphore(max(self.o["concurrency"], 200))

        async def one(c: WSClient) -> None:
            async with sem:
                await c.close()

        await asyncio.gather(*(one(c) for c in clients))

    def start_heartbeats(self) -> None:
        """Project sockets send a heartbeat every half interval, spread over time."""
        if self.target != "project" or self._hb_task is not None:
            return

        async def loop() -> None:
            frame = b'{"type":"heartbeat"}'
            k = 0
            while True:
                await asyncio.sleep(1.0)
                first = self.clients[0].welcome if self.clients else None
                interval = (first or {}).get("heartbeat_interval") or 20
                spread = max(1, int(interval / 2))
                for c in self.clients[k % spread :: spread]:
                    c.send(frame)
                k += 1

        self._hb_task = asyncio.create_task(loop())

    def stop_heartbeats(self) -> None:
        if self._hb_task is not None:
            self._hb_task.cancel()
            self._hb_task = None

    async def presence_rows(self) -> int | None:
        if self.target != "project":
            return None
        from bench import fixtures

        return await asyncio.to_thread(fixtures.presence_rows)

    async def seq_base(self) -> list[int] | None:
        if self.target != "project":
            return None
        from bench import fixtures

        last = await asyncio.to_thread(fixtures.room_last_seq, self.slugs)
        return None if last is None else [last[s] for s in self.slugs]

    async def warm_up(self) -> None:
        """A few sockets opened and closed, so the baseline is a server that served."""
        clients, _, _, _ = await self.connect_many([(0, 0)], "warm-up")
        await self.close_many(clients)
        await asyncio.sleep(1.0)

    # Scenarios

    async def capacity(self) -> None:
        o = self.o
        n = o["sockets"]
        await self.warm_up()
        before = procstat.snapshot(self.pids)
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        specs = [(i // o["room_size"], i) for i in range(n)]
        # Heartbeats from the first ready socket on: a target slower to fill than its
        # idle timeout would otherwise close the early sockets before the count.
        self.clients = []
        self.start_heartbeats()
        clients, ready, failures, hs = await self.connect_many(
            specs, "capacity", keep=self.clients
        )
        t1 = max(ready) if ready else time.perf_counter()
        connected = procstat.snapshot(self.pids)
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.perf_counter() - t0
        client_cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
        server_cpu = connected["cpu_s"] - before["cpu_s"]
        self.clients[:] = [c for c in clients if c.is_open]
        gc.freeze()
        await asyncio.sleep(o["hold"])
        held = procstat.snapshot(self.pids)
        still_open = sum(1 for c in clients if c.is_open)
        self.stop_heartbeats()
        await self.close_many(clients)
        self.clients = []
        await asyncio.sleep(o["settle"])
        after = procstat.snapshot(self.pids)
        opened = len(ready)
        self.record(
            "capacity",
            sockets=n,
            opened=opened,
            still_open=still_open,
            failures=dict(failures),
            concurrency=o["concurrency"],
            room_size=o["room_size"],
            seconds=round(t1 - t0, 3),
            handshakes_per_s=round(opened / (t1 - t0), 1) if opened else 0.0,
            slices=stats.slice_rates(ready, t0, 1000 if n >= 2000 else max(1, n // 5)),
            handshake=stats.latency_summary(hs),
            rss_before_kb=before["rss_kb"],
            rss_open_kb=held["rss_kb"],
            rss_after_close_kb=after["rss_kb"],
            rss_per_socket_kb=(
                round((held["rss_kb"] - before["rss_kb"]) / opened, 2)
                if opened
                else None
            ),
            fds_before=before["fds"],
            fds_open=held["fds"],
            fds_after_close=after["fds"],
            server_cpu_s=round(server_cpu, 3),
            server_cpu_ms_per_handshake=(
                round(server_cpu / opened * 1e3, 3) if opened else None
            ),
            # Which side was busy while connecting (1.0 = one core).
            server_cpu_util=round(server_cpu / wall, 3) if wall > 0 else None,
            client_cpu_util=round(client_cpu / wall, 3) if wall > 0 else None,
            presence_rows_after_close=await self.presence_rows(),
            errors=dict(self.errors),
        )

    async def chat(self) -> None:
        """fanout (one room, P publishers) and rooms (K rooms, every member publishes)."""
        o = self.o
        if o["scenario"] in ("fanout", UPDATES):
            specs = [(0, i) for i in range(o["members"])]
        elif o["scenario"] == ACTIVITY:
            # Each member's chat socket, then their notify socket (counted as a
            # member of room 0 too: every message is expected there once, as activity).
            m = o["members"]
            self.first_notify = m
            specs = [(0, i) for i in range(m)] + [(0, m + i) for i in range(m)]
        else:
            specs = [
                (r, r * o["room_size"] + k)
                for r in range(o["rooms"])
                for k in range(o["room_size"])
            ]
        clients, ready, failures, hs = await self.connect_many(specs, o["scenario"])
        self.clients = clients
        gc.freeze()
        self.start_heartbeats()
        if o["settle"]:
            await asyncio.sleep(o["settle"])
        live = [c for c in clients if c.is_open]
        if o["scenario"] in ("fanout", ACTIVITY, UPDATES):
            chat = [c for c in live if c.index < self.first_notify]
            publishers = chat[: o["publishers"]]
            if o["scenario"] == UPDATES:
                publishers = await self.seed_messages(publishers)
        else:
            # Interleave rooms so every room gets its share of the rate evenly.
            by_slot: dict[int, list[WSClient]] = {}
            for c in live:
                by_slot.setdefault(c.index % o["room_size"], []).append(c)
            publishers = [c for slot in sorted(by_slot) for c in by_slot[slot]]
        rates = o["sweep"] or [o["rate"]]
        points: list[dict] = []
        failing = 0
        for k, rate in enumerate(rates):
            if not publishers:
                break
            point = await self.phase_run(k, rate, publishers, failures, hs)
            points.append(point)
            failing = 0 if point["ok"] else failing + 1
            if o["sweep"] and failing >= 2 and not o["sweep_all"]:
                break
        if o["sweep"]:
            sat = stats.saturation_point(points, p99_bound_ms=o["p99_bound_ms"])
            half = None
            if sat is not None:
                below = [p for p in points if p["rate"] <= sat["rate"] / 2]
                half = max(below, key=lambda p: p["rate"]) if below else None
            self.record(
                "sweep",
                rates=[p["rate"] for p in points],
                room_size=points[0]["room_size"] if points else None,
                saturation_rate=sat["rate"] if sat else None,
                saturation_delivered_per_s=sat["delivered_per_s"] if sat else None,
                max_delivered_per_s=max(
                    (p["delivered_per_s"] for p in points), default=None
                ),
                # Throughput with (almost) nothing lost, whatever the latency.
                max_clean_delivered_per_s=max(
                    (
                        p["delivered_per_s"]
                        for p in points
                        if p["expected"] and p["delivered"] >= 0.99 * p["expected"]
                    ),
                    default=None,
                ),
                half_saturation_rate=half["rate"] if half else None,
                p99_at_half_saturation_ms=half["latency"]["p99_ms"] if half else None,
                server_us_per_frame_at_saturation=(
                    sat["server"]["us_per_frame"] if sat else None
                ),
                p99_bound_ms=o["p99_bound_ms"],
            )
        self.stop_heartbeats()
        await self.close_many(clients)
        self.clients = []

    async def seed_messages(self, publishers: list[WSClient]) -> list[WSClient]:
        """fanout_updates: each publisher posts one message and learns its id (the one
        it then edits); those whose message did not come back within 10 s are left out."""
        self.seeding = {f"seed-{self.run_id}-{c.index}": c for c in publishers}
        self.seeded = asyncio.Event()
        for client_id, c in self.seeding.items():
            c.send(
                b'{"type":"message","body":"seed","client_id":"%s"}'
                % client_id.encode()
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.seeded.wait(), 10)
        self.seeding = {}
        return [c for c in publishers if c.index in self.edit_ids]

    async def phase_run(
        self,
        k: int,
        rate: float,
        publishers: list[WSClient],
        failures: Counter[str],
        hs: list[int],
    ) -> dict:
        o = self.o
        n_rooms = len(self.slugs)
        members = [0] * n_rooms
        listening = [c for c in self.clients if c.is_open]
        for c in listening:
            members[c.room] += 1
            c.frames = 0
            c.seen = bytearray()
            c.seen_seq = bytearray()
        # fanout_updates: an edit's message keeps its seq; count by body.
        edits = self.edit_ids if o["scenario"] == UPDATES else None
        base = None if edits else await self.seq_base()
        tag = f"{self.run_id}p{k}"
        ph = Phase(tag, n_rooms, base)
        planned = int(rate * o["duration"])
        pad = b"x" * max(1, o["body_size"] - len(tag) - 30)
        tag_b = tag.encode()
        errors0 = sum(self.errors.values())
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        snap0 = procstat.snapshot(self.pids)
        self.phase = ph
        attempts = 0
        send_failed = 0
        pub_i = 0
        n_pubs = len(publishers)
        room_sent = ph.room_sent
        tick = 0.002 if rate >= 500 else 0.01
        last_attempts = 0
        last_received = 0

        def line(el: float) -> str:
            nonlocal last_attempts, last_received
            recent = ph.lat[last_received:]
            p99 = stats.percentile(sorted(recent), 99) if recent else None
            s = (
                f"[{o['scenario']} {self.name} {rate:g}/s] {el:5.0f}s sent {attempts}"
                f" (+{attempts - last_attempts}) recv {ph.received} "
                f"(+{ph.received - last_received}) p99(1s) "
                f"{'-' if p99 is None else f'{p99 / 1e6:.1f}ms'} stale {ph.stale} "
                f"errors {sum(self.errors.values()) - errors0}"
            )
            last_attempts, last_received = attempts, ph.received
            return s

        prog = self.progress(line)
        t0 = time.perf_counter()
        t0_ns = perf_ns()
        try:
            while attempts < planned:
                due = (
                    min(planned, int(rate * (time.perf_counter() - t0)) + 1) - attempts
                )
                for _ in range(due):
                    c = publishers[pub_i]
                    pub_i = (pub_i + 1) % n_pubs
                    attempts += 1
                    r = c.room
                    n = room_sent[r]
                    if edits:
                        frame = b'{"type":"edit","id":%d,"body":"%s %d %d %s"}' % (
                            edits[c.index],
                            tag_b,
                            n,
                            perf_ns(),
                            pad,
                        )
                    else:
                        frame = (
                            b'{"type":"message","body":"%s %d %d %s",'
                            b'"client_id":"%s-%d-%d"}'
                            % (tag_b, n, perf_ns(), pad, tag_b, r, n)
                        )
                    if c.send(frame):
                        room_sent[r] = n + 1
                    else:
                        send_failed += 1
                await asyncio.sleep(tick)
            t_send_end = time.perf_counter()
            expected = sum(room_sent[r] * members[r] for r in range(n_rooms))
            last_progress, last_count = time.perf_counter(), ph.received
            while ph.received < expected:
                now = time.perf_counter()
                if ph.received != last_count:
                    last_progress, last_count = now, ph.received
                if now - t_send_end > o["drain"] or now - last_progress > 2.0:
                    break
                await asyncio.sleep(0.02)
        finally:
            prog.cancel()
            self.phase = None
        snap1 = procstat.snapshot(self.pids)
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        # Delivery rate over the planned window, or longer when frames came in late.
        elapsed = max(o["duration"], (ph.t_last - t0_ns) / 1e9, t_send_end - t0)
        lost = dup = 0
        count_by = "seq" if base is not None else "body"
        body_unique = seq_unique = 0
        for c in listening:
            seen = c.seen_seq if base is not None else c.seen
            lo, du = stats.lost_and_dup(seen, c.frames, room_sent[c.room])
            lost += lo
            dup += du
            body_unique += stats.unique_count(c.seen)
            seq_unique += stats.unique_count(c.seen_seq)
        closes = Counter(
            str(c.close_code or c.error) for c in listening if not c.is_open
        )
        delivered = ph.received
        cpu = snap1["cpu_s"] - snap0["cpu_s"]
        client_cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
        sent = sum(room_sent)
        room_size = round(sum(members) / max(1, sum(1 for m in members if m)), 2)
        point = {
            "rate": rate,
            "duration": o["duration"],
            "rooms": n_rooms,
            "room_size": room_size,
            "listening": len(listening),
            "publishers": n_pubs,
            "connect_failures": dict(failures),
            "handshake": stats.latency_summary(hs),
            "planned": planned,
            "sent": sent,
            "send_failed": send_failed,
            "send_seconds": round(t_send_end - t0, 3),
            "expected": expected,
            "delivered": delivered,
            "delivered_per_s": round(delivered / elapsed, 1) if elapsed > 0 else None,
            "offered_frames_per_s": round(rate * room_size, 1),
            "lost": lost,
            "dup": dup,
            "count_by": count_by,
            "stored_twice": (seq_unique - body_unique) if base is not None else None,
            "seq_out_of_range": ph.seq_out_of_range if base is not None else None,
            "stale": ph.stale,
            "latency": stats.latency_summary(ph.lat),
            **self._activity_figures(ph, listening),
            "server": {
                "cpu_s": round(cpu, 3),
                "cpu_util": round(cpu / elapsed, 3) if elapsed > 0 else None,
                "us_per_frame": round(cpu / delivered * 1e6, 2) if delivered else None,
                "rss_kb": snap1["rss_kb"],
                "fds": snap1["fds"],
            },
            "client_cpu_util": round(client_cpu / elapsed, 3) if elapsed > 0 else None,
            "errors": dict(Counter(self.errors)),
            "closed_during": dict(closes),
        }
        point["ok"] = stats.point_ok(point, p99_bound_ms=o["p99_bound_ms"])
        if not o["quiet"]:
            lat = point["latency"]
            log(
                f"[{o['scenario']} {self.name} {rate:g}/s] done: delivered "
                f"{delivered}/{expected} ({point['delivered_per_s']}/s) lost {lost} dup {dup}"
                f" p50 {lat['p50_ms']} p99 {lat['p99_ms']} max {lat['max_ms']} ms "
                f"server cpu {point['server']['cpu_util']} ok={point['ok']}"
            )
        self.record("point", **point)
        ph.lat = array("q")
        return point

    def _activity_figures(self, ph: Phase, listening: list[WSClient]) -> dict:
        """fanout_activity: the chat and activity frames apart (both are in `delivered`)."""
        if self.o["scenario"] != ACTIVITY:
            return {}
        notify = sum(1 for c in listening if c.index >= self.first_notify)
        sent = sum(ph.room_sent)
        return {
            "chat_delivered": ph.received - ph.activity,
            "chat_expected": sent * (len(listening) - notify),
            "activity_delivered": ph.activity,
            "activity_expected": sent * notify,
            "activity_latency": stats.latency_summary(ph.activity_lat),
        }

    async def soak(self) -> None:
        o = self.o
        await self.warm_up()
        before = procstat.snapshot(self.pids)
        samples: list[dict] = []
        done = 0
        failures: Counter[str] = Counter()
        closes: Counter[str] = Counter()
        hs: list[int] = []
        t0 = time.perf_counter()
        deadline = t0 + o["max_duration"]
        next_cycle = 0

        async def sampler() -> None:
            while True:
                snap = procstat.snapshot(self.pids)
                samples.append(
                    {
                        "t": round(time.perf_counter() - t0, 2),
                        "cycles": done,
                        "rss_kb": snap["rss_kb"],
                        "fds": snap["fds"],
                    }
                )
                await asyncio.sleep(o["sample_interval"])

        async def worker(w: int) -> None:
            nonlocal done, next_cycle
            timeout = o["handshake_timeout"]
            while next_cycle < o["cycles"] and time.perf_counter() < deadline:
                i = next_cycle
                next_cycle += 1
                c = await open_client(
                    self.url(i % len(self.slugs), w),
                    self.host,
                    self.port,
                    i,
                    i % len(self.slugs),
                    self.on_text,
                    local_addr=self.local_addr(i),
                    handshake_timeout=timeout,
                )
                if c.opened.result() and not self.needs_welcome:
                    c.mark_ready()
                try:
                    ok = await asyncio.wait_for(asyncio.shield(c.ready), timeout)
                except TimeoutError:
                    ok = False
                if ok:
                    hs.append(perf_ns() - c.t_start)
                else:
                    failures[c.error or f"close_{c.close_code}"] += 1
                await c.close()
                if c.close_code not in (None, 1000):
                    closes[str(c.close_code)] += 1
                done += 1

        samp = asyncio.create_task(sampler())
        prog = self.progress(
            lambda el: (
                f"[soak {self.name}] {el:5.0f}s cycles {done}/{o['cycles']} "
                f"({done / max(el, 1e-9):.0f}/s) failed {sum(failures.values())} rss "
                f"{samples[-1]['rss_kb'] if samples else '-'} kB fds "
                f"{samples[-1]['fds'] if samples else '-'}"
            )
        )
        try:
            await asyncio.gather(*(worker(w) for w in range(o["concurrency"])))
        finally:
            prog.cancel()
            samp.cancel()
        t1 = time.perf_counter()
        last_busy = procstat.snapshot(self.pids)
        samples.append(
            {
                "t": round(t1 - t0, 2),
                "cycles": done,
                "rss_kb": last_busy["rss_kb"],
                "fds": last_busy["fds"],
            }
        )
        await asyncio.sleep(o["settle"])
        after = procstat.snapshot(self.pids)
        # Warm-up: the first sample at or past 10% of the cycles is the baseline.
        warm = next((s for s in samples if s["cycles"] >= done * 0.1), samples[0])
        end = samples[-1]
        growth = None
        if warm and end and warm["rss_kb"]:
            growth = round((end["rss_kb"] - warm["rss_kb"]) / warm["rss_kb"] * 100, 2)
        self.record(
            "soak",
            cycles=done,
            cycles_requested=o["cycles"],
            seconds=round(t1 - t0, 2),
            cycles_per_s=round(done / (t1 - t0), 1) if t1 > t0 else None,
            concurrency=o["concurrency"],
            failures=dict(failures),
            unexpected_closes=dict(closes),
            handshake=stats.latency_summary(hs),
            rss_before_kb=before["rss_kb"],
            rss_warm_kb=warm["rss_kb"] if warm else None,
            rss_end_kb=end["rss_kb"] if end else None,
            rss_after_close_kb=after["rss_kb"],
            rss_growth_pct=growth,
            rss_max_kb=max((s["rss_kb"] for s in samples), default=None),
            fds_before=before["fds"],
            fds_busy_end=last_busy["fds"],
            fds_after_close=after["fds"],
            fds_left=after["fds"] - before["fds"],
            presence_rows_after_close=await self.presence_rows(),
            server_cpu_s=round(after["cpu_s"] - before["cpu_s"], 3),
            errors=dict(self.errors),
            samples=samples,
        )

    async def run(self) -> list[dict]:
        scenario = self.o["scenario"]
        if not self.pids:
            log(
                f"warning: no server process found for port {self.port}; /proc figures are 0"
            )
        try:
            if scenario == "capacity":
                await self.capacity()
            elif scenario == "soak":
                await self.soak()
            elif scenario == "storm":
                from bench.storm import Storm

                await Storm(self).run()
            else:
                await self.chat()
        finally:
            self.stop_heartbeats()
            gc.unfreeze()
        return self.records


def prepare_tokens(o: dict[str, Any]) -> list[str] | None:
    """Real access JWTs for the project target (its users and rooms created first)."""
    if o["target"] != "project":
        return None
    from bench import fixtures

    fixtures.setup_django()
    n = users_for(o["scenario"], o)
    t = time.perf_counter()
    tokens = fixtures.ensure_fixtures(
        n_users=n,
        room_slugs=slugs_for(o["scenario"], o),
        joined=o["scenario"] == ACTIVITY,
    )
    if o["scenario"] == ACTIVITY:
        o["user_ids"] = fixtures.user_ids(n)
    if not o.get("quiet"):
        log(f"[fixtures] {n} users, tokens minted in {time.perf_counter() - t:.1f}s")
    return tokens


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run(options: dict[str, Any]) -> list[dict]:
    """Validate, prepare fixtures, run one scenario; return the result records."""
    o = dict(options)
    validate(o)
    raise_fd_limit()
    tokens = prepare_tokens(o)

    async def main() -> list[dict]:
        return await Runner(o, tokens).run()

    if not o.get("no_uvloop"):
        try:
            import uvloop
        except ImportError:
            uvloop = None
        if uvloop is not None:
            return uvloop.run(main())
    return asyncio.run(main())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        run(vars(args))
    except BenchError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
