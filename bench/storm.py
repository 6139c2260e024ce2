"""The `storm` scenario: two cluster processes, one killed, its clients come back.

N sockets in R rooms, spread over two project processes that share PostgreSQL and Redis
(socket i: room i % R, server (i // R) % 2, so every room has members on both). A chat
flow of `--rate` messages/s goes to the rooms in turn, each sent by a random open member
(of either process, or of the survivor only with `--publish-via survivor`). After
`--kill-after` seconds the first process (`--url`) gets SIGKILL (or SIGTERM: its drain,
1012). Every client whose socket drops reconnects as a real client would: full-jitter
backoff (`--backoff-base`, `--backoff-cap`), `?since=<last seq it saw>`, to the other
server (and back and forth while one refuses).

The restart variant (`--kill-signal RESTART`, embedded mode): one process holds every
socket; it gets SIGTERM (its drain, 1012 to all), exits, and whoever runs the bench
starts it again on the same port with the same database (run_all: servers.Restarter,
as a user's `make run` restart would); every client reconnects to that same address,
with the same backoff and `since`.

Each socket keeps every `message` it gets, in its welcome's `history` and live, and does
not deduplicate: at the end, with the rooms' last `seq` read from the database, every
seq after the run's start must have come exactly once to every socket of its room.
Recorded: time from the kill to each dropped client's new welcome (p50/p99/max), lost
and duplicated messages (counts, sockets, a sample), all back (every socket open again).

Then presence, once every client is back and the stopped process's registry rows are
gone (a killed one's go at the survivor's lease sweep: waited for, at most a lease and a
renewal period past the kill, plus PRESENCE_MARGIN): in every room the registry's rows
must be exactly the open sockets (the same users, one row each: a stale row of a user
who came back would leave the set of users right), a fresh welcome's `online_count`
(one probe socket per room, a member's second) must count them, and what the presence
frames last announced (chat.AnnouncedPresence, one row a user; polled for at most
PRESENCE_MARGIN while the batcher flushes the sweep's leaves) must be those users.

Pure pieces (backoff, the per-socket tally) are functions here, tested without a server.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import orjson

from bench import procstat, stats
from bench.client import WSClient, open_client, perf_ns

if TYPE_CHECKING:
    from bench.loadgen import Runner

#: RESTART: SIGTERM to the only process, which the bench's runner starts again.
SIGNALS = {"KILL": signal.SIGKILL, "TERM": signal.SIGTERM, "RESTART": signal.SIGTERM}
PUBLISH_VIA = ("both", "survivor")
SAMPLE = 20  # (room, seq) pairs kept of what was lost or repeated
PRESENCE_SAMPLE = 5  # rooms kept of those whose presence is wrong
#: Seconds past the latest moment the survivor's sweep can remove a killed process's
#: rows (its lease, plus one renewal period: the sweep runs at each renewal), for a
#: survivor busy with a storm of welcomes.
PRESENCE_MARGIN = 5.0


def full_jitter(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait before reconnect attempt `attempt` (0 first): U(0, min(cap, base*2^n))."""
    return rng.uniform(0.0, min(cap, base * (2 ** min(attempt, 30))))


def member_placement(i: int, rooms: int, servers: int = 2) -> tuple[int, int]:
    """(room, server) of socket i: rooms in turn, servers alternating per round of rooms."""
    return i % rooms, (i // rooms) % servers


def presence_mismatches(
    rows: dict[str, list[str]], open_members: dict[str, list[str]]
) -> list[dict]:
    """Rooms whose registry rows (a user each) are not their open sockets (a member
    each): users extra or missing, or as many users but more rows (a stale row of a
    user who came back)."""
    out = []
    for slug, want in open_members.items():
        have = rows.get(slug, [])
        if len(have) != len(want) or set(have) != set(want):
            out.append(
                {
                    "room": slug,
                    "rows": len(have),
                    "open": len(want),
                    "extra": sorted(set(have) - set(want))[:PRESENCE_SAMPLE],
                    "missing": sorted(set(want) - set(have))[:PRESENCE_SAMPLE],
                }
            )
    return out


class Member:
    """One client of the storm: its room, its current socket, and every seq it got."""

    __slots__ = (
        "index",
        "room",
        "server",
        "client",
        "base",
        "last_seq",
        "seen",
        "frames",
        "victim",
        "t_back",
        "attempts",
        "drops",
        "incomplete",
        "reconnecting",
    )

    def __init__(self, index: int, room: int, server: int, base: int) -> None:
        self.index = index
        self.room = room
        self.server = server
        self.client: WSClient | None = None
        self.base = (
            base  # the room's last seq before the run: older ones are not counted
        )
        self.last_seq = base
        self.seen = bytearray()  # arrivals per seq - base - 1
        self.frames = 0  # message items counted in `seen` (history and live)
        self.victim = False
        self.t_back = 0
        self.attempts = 0
        self.drops: list[str] = []
        self.incomplete = 0
        self.reconnecting = False

    def got(self, seq: Any) -> None:
        """One message item (history or live) with this seq came to this socket."""
        if not isinstance(seq, int) or seq <= self.base:
            return
        stats.mark(self.seen, seq - self.base - 1)
        self.frames += 1
        if seq > self.last_seq:
            self.last_seq = seq

    def unique(self) -> int:
        return stats.unique_count(self.seen)

    def lost_seqs(self, last: int) -> list[int]:
        """Seqs in (base, last] never seen."""
        n = last - self.base
        seen = self.seen
        return [self.base + 1 + k for k in range(n) if k >= len(seen) or seen[k] == 0]

    def repeated_seqs(self) -> list[int]:
        return [self.base + 1 + k for k, v in enumerate(self.seen) if v > 1]


def check_kill_target(pid: int, victim_port: int, peer_port: int | None) -> None:
    """Refuse to signal anything but the process serving the victim's loopback port."""
    from bench.loadgen import BenchError

    if pid in (0, 1, os.getpid(), os.getppid()):
        raise BenchError(f"refusing to signal pid {pid}")
    tree = set(procstat.process_tree(pid))
    if not tree & set(procstat.listening_pids(victim_port)):
        raise BenchError(f"pid {pid} does not listen on port {victim_port}")
    if peer_port is not None and tree & set(procstat.listening_pids(peer_port)):
        raise BenchError(f"pid {pid} also serves the survivor's port {peer_port}")


class Storm:
    """Runs the storm scenario with a loadgen Runner's options, fixtures and records."""

    def __init__(self, runner: Runner) -> None:
        from bench.loadgen import BenchError, check_url

        self.r = runner
        o = self.o = runner.o
        self.restart = o["kill_signal"] == "RESTART"
        # Restart: one address, the process behind it stopped and started again.
        peer = o["url"] if self.restart else o["peer_url"]
        self.urls = [o["url"].rstrip("/"), peer.rstrip("/")]
        self.addrs = [check_url(u) for u in self.urls]
        self.n_servers = 1 if self.restart else 2
        if not self.restart and self.addrs[0] == self.addrs[1]:
            raise BenchError("--url and --peer-url must be two servers")
        self.rng = random.Random(o.get("seed", 0))
        self.members: list[Member] = []
        self.by_room: list[list[Member]] = []
        self.base: list[int] = []
        self.stopping = False
        self.flow_stop = False
        self.t_kill = 0
        self.sent = 0
        self.send_skipped = 0
        self.unexpected: Counter[str] = Counter()
        self.connect_failures: Counter[str] = Counter()
        self.tasks: set[asyncio.Task] = set()
        self.victim_pid = o.get("kill_pid") or self._listener(0)
        self.peer_pids: list[int] = []
        if o.get("peer_pid"):
            self.peer_pids = procstat.process_tree(o["peer_pid"])
        elif not self.restart:
            self.peer_pids = procstat.listening_pids(self.addrs[1][1])

    def _listener(self, k: int) -> int:
        from bench.loadgen import BenchError

        pids = procstat.listening_pids(self.addrs[k][1])
        if len(pids) != 1:
            raise BenchError(f"expected one process on {self.urls[k]}, found {pids}")
        return pids[0]

    # Frames in

    def on_text(self, client: WSClient, data: bytes, now: int) -> None:
        try:
            d = orjson.loads(data)
            t = d.get("type")
        except (orjson.JSONDecodeError, AttributeError):
            self.r.bad_json += 1
            return
        m = self.members[client.index]
        if t == "message":
            m.got(d.get("seq"))
        elif t == "welcome":
            for item in d.get("history") or ():
                if isinstance(item, dict):
                    m.got(item.get("seq"))
            if m.reconnecting and d.get("complete") is False:
                m.incomplete += 1
            client.welcome = {"heartbeat_interval": d.get("heartbeat_interval")}
            client.mark_ready()
        elif t == "error":
            self.r.errors[str(d.get("code"))] += 1

    # Sockets

    def url(self, m: Member, server: int, since: int | None) -> str:
        u = (
            f"{self.urls[server]}/ws/chat/{self.r.slugs[m.room]}/"
            f"?token={self.r.tokens[m.index]}"  # type: ignore[index]
        )
        return u if since is None else f"{u}&since={since}"

    async def open_socket(
        self, m: Member, server: int, since: int | None, room: int, on_text: Any
    ) -> tuple[WSClient, bool]:
        """A socket of m's on `server` (its frames to `on_text`, counted as `room`),
        and whether its welcome came within the handshake timeout."""
        host, port = self.addrs[server]
        timeout = self.o["handshake_timeout"]
        c = await open_client(
            self.url(m, server, since),
            host,
            port,
            m.index,
            room,
            on_text,
            local_addr=self.r.local_addr(m.index),
            handshake_timeout=timeout,
        )
        try:
            return c, await asyncio.wait_for(asyncio.shield(c.ready), timeout)
        except TimeoutError:
            c.error = c.error or "welcome_timeout"
            return c, False

    async def connect(self, m: Member, server: int, since: int | None) -> bool:
        """Open m's socket on `server`; True once its welcome came."""
        c, ok = await self.open_socket(m, server, since, m.room, self.on_text)
        if not ok:
            self.connect_failures[
                c.error or (f"close_{c.close_code}" if c.close_code else "failed")
            ] += 1
            if c.transport is not None:
                c.transport.abort()
            return False
        m.client, m.server = c, server
        self.r.clients[m.index] = c
        c.closed.add_done_callback(lambda _f, m=m, c=c: self.on_drop(m, c))
        return True

    def on_drop(self, m: Member, c: WSClient) -> None:
        if self.stopping or m.client is not c:
            return
        why = str(c.close_code or c.error or "closed")
        m.drops.append(why)
        if not m.victim:
            self.unexpected[why] += 1
        task = asyncio.get_running_loop().create_task(self.reconnect(m))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def reconnect(self, m: Member) -> None:
        """Full-jitter backoff, `since` the last seq seen, the other server first
        (restart: the one server, started again)."""
        o = self.o
        m.reconnecting = True
        server = (m.server + 1) % self.n_servers
        attempt = 0
        deadline = time.perf_counter() + o["reconnect_timeout"]
        while not self.stopping and time.perf_counter() < deadline:
            await asyncio.sleep(
                full_jitter(attempt, o["backoff_base"], o["backoff_cap"], self.rng)
            )
            if self.stopping:
                return
            m.attempts += 1
            if await self.connect(m, server, since=m.last_seq):
                m.t_back = perf_ns()
                return
            attempt += 1
            server = (server + 1) % self.n_servers

    async def fill(self) -> int:
        """Every member's first socket, bounded concurrency; how many opened."""
        sem = asyncio.Semaphore(self.o["concurrency"])

        async def one(m: Member) -> bool:
            async with sem:
                return await self.connect(m, m.server, since=None)

        n = len(self.members)
        done = [0]

        async def counted(m: Member) -> bool:
            ok = await one(m)
            done[0] += ok
            return ok

        prog = self.r.progress(
            lambda el: (
                f"[storm] {el:5.0f}s ready {done[0]}/{n} "
                f"({done[0] / max(el, 1e-9):.0f}/s) failed {sum(self.connect_failures.values())}"
            )
        )
        try:
            results = await asyncio.gather(*(counted(m) for m in self.members))
        finally:
            prog.cancel()
        return sum(results)

    # The chat flow

    def pick(self, room: int) -> WSClient | None:
        """A random open member of the room that may publish now."""
        pool = self.by_room[room]
        survivor_only = self.o["publish_via"] == "survivor"
        for _ in range(8):
            m = pool[self.rng.randrange(len(pool))]
            c = m.client
            if c is not None and c.is_open and not (survivor_only and m.server == 0):
                return c
        return None

    async def flow(self) -> None:
        rate = self.o["rate"]
        tag = self.r.run_id.encode()
        n_rooms = len(self.by_room)
        attempts = 0
        t0 = time.perf_counter()
        while not self.flow_stop:
            due = int(rate * (time.perf_counter() - t0)) + 1 - attempts
            for _ in range(max(0, due)):
                room = attempts % n_rooms
                attempts += 1
                c = self.pick(room)
                frame = (
                    b'{"type":"message","body":"storm %s %d","client_id":"%s-%d"}'
                    % (
                        tag,
                        attempts,
                        tag,
                        attempts,
                    )
                )
                if c is not None and c.send(frame):
                    self.sent += 1
                else:
                    self.send_skipped += 1
            await asyncio.sleep(0.01)

    # The scenario

    async def run(self) -> None:
        from bench import fixtures
        from bench.loadgen import BenchError

        o, r = self.o, self.r
        check_kill_target(
            self.victim_pid,
            self.addrs[0][1],
            None if self.restart else self.addrs[1][1],
        )
        base = await r.seq_base()
        if base is None:
            raise BenchError("storm needs the rooms' last seq (the project target)")
        n_rooms = len(r.slugs)
        self.base = base
        for i in range(o["sockets"]):
            room, server = member_placement(i, n_rooms, self.n_servers)
            self.members.append(Member(i, room, server, base[room]))
        self.by_room = [[] for _ in range(n_rooms)]
        for m in self.members:
            self.by_room[m.room].append(m)
        # Heartbeats from the first welcome on (connect() puts each socket in the list):
        # filling 10,000 sockets takes longer than the server's heartbeat timeout.
        r.clients = [_closed_stub()] * len(self.members)
        r.pids = procstat.process_tree(self.victim_pid) + self.peer_pids
        r.start_heartbeats()
        opened = await self.fill()
        await asyncio.sleep(o["settle"])
        flow = asyncio.create_task(self.flow())
        await asyncio.sleep(o["kill_after"])

        victims = [m for m in self.members if m.server == 0 and m.client is not None]
        for m in victims:
            m.victim = True
        peer0 = procstat.snapshot(self.peer_pids)
        self.t_kill = perf_ns()
        os.kill(self.victim_pid, SIGNALS[o["kill_signal"]])
        t_kill_s = time.perf_counter()

        def back() -> int:
            return sum(1 for m in victims if m.t_back)

        prog = r.progress(
            lambda el: (
                f"[storm] {el:5.0f}s after the kill: back {back()}/{len(victims)}"
                f" open {sum(1 for m in self.members if m.client and m.client.is_open)}"
                f"/{len(self.members)} sent {self.sent}"
            )
        )
        try:
            while back() < len(victims):
                if time.perf_counter() - t_kill_s > o["reconnect_timeout"]:
                    break
                await asyncio.sleep(0.05)
        finally:
            prog.cancel()
        all_back_s = time.perf_counter() - t_kill_s
        if self.restart:  # the survivor is the process started again: its RSS now
            self.peer_pids = procstat.listening_pids(self.addrs[0][1])
            peer0 = {**procstat.snapshot(self.peer_pids), "cpu_s": None}
        peer1 = procstat.snapshot(self.peer_pids)
        await asyncio.sleep(o["tail"])
        self.flow_stop = True
        await flow
        await asyncio.sleep(0.5)  # the last messages sent are stored before the count

        # Everything stored must reach every member of its room: drain until it has.
        last = await asyncio.to_thread(fixtures.room_last_seq, r.slugs)
        if last is None:
            raise BenchError("could not read the rooms' last seq")
        want = [last[s] for s in r.slugs]
        t_drain = time.perf_counter()
        progress_at, got_before = t_drain, -1
        while True:
            got = sum(m.unique() for m in self.members)
            missing = sum(want[m.room] - m.base for m in self.members) - got
            now = time.perf_counter()
            if missing <= 0 or now - t_drain > o["drain"] or now - progress_at > 3.0:
                break
            if got != got_before:
                progress_at, got_before = now, got
            await asyncio.sleep(0.05)

        exact = await self.presence(t_kill_s)
        self.stopping = True
        r.stop_heartbeats()
        still_open = sum(1 for m in self.members if m.client and m.client.is_open)
        presence = await r.presence_rows()
        for t in list(self.tasks):
            t.cancel()
        await r.close_many([m.client for m in self.members if m.client is not None])
        self.report(
            opened, victims, want, all_back_s, still_open, presence, peer0, peer1, exact
        )

    # Presence after the sweep

    async def presence(self, t_kill_s: float) -> dict[str, Any]:
        """Wait for the stopped process's rows to go, then compare presence with the
        sockets open: the registry's users per room, and a fresh welcome's count."""
        from bench import fixtures

        lease = await asyncio.to_thread(fixtures.lease_seconds)
        deadline = t_kill_s + lease * 4 / 3 + PRESENCE_MARGIN
        t_wait = time.perf_counter()
        while True:
            left = await asyncio.to_thread(fixtures.process_rows, self.victim_pid)
            if not left or time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.25)
        waited = time.perf_counter() - t_wait
        slugs = self.r.slugs
        open_members = {
            slugs[k]: [
                fixtures.username(m.index)
                for m in ms
                if m.client is not None and m.client.is_open
            ]
            for k, ms in enumerate(self.by_room)
        }
        online = await asyncio.to_thread(fixtures.online_usernames, slugs)
        wrong = presence_mismatches(online, open_members)
        # Announced: one row a user, so compared with the open members' distinct users.
        users = {slug: sorted(set(names)) for slug, names in open_members.items()}
        t_announced = time.perf_counter() + PRESENCE_MARGIN
        while True:
            announced = await asyncio.to_thread(fixtures.announced_usernames, slugs)
            wrong_announced = presence_mismatches(announced, users)
            if not wrong_announced or time.perf_counter() > t_announced:
                break
            await asyncio.sleep(0.25)
        counts = await self.welcome_counts()
        wrong_count = [
            {"room": slugs[k], "online_count": n, "open": len(open_members[slugs[k]])}
            for k, n in enumerate(counts)
            if n != len(open_members[slugs[k]])
        ]
        return {
            "presence_exact": not (left or wrong or wrong_count or wrong_announced),
            "lease_seconds": lease,
            "stopped_process_rows_left": left,
            "presence_wait_s": round(waited, 3),
            "presence_mismatched_rooms": len(wrong),
            "presence_sample": wrong[:PRESENCE_SAMPLE],
            "welcome_online_mismatched_rooms": len(wrong_count),
            "welcome_online_sample": wrong_count[:PRESENCE_SAMPLE],
            "announced_mismatched_rooms": len(wrong_announced),
            "announced_sample": wrong_announced[:PRESENCE_SAMPLE],
        }

    async def welcome_counts(self) -> list[int | None]:
        """Each room's `online_count` in a new welcome: a probe socket per room, with
        the token of one of its open members (a second socket: presence unchanged)."""
        sem = asyncio.Semaphore(min(20, self.o["concurrency"]))

        def on_text(client: WSClient, data: bytes, now: int) -> None:
            try:
                d = orjson.loads(data)
            except orjson.JSONDecodeError:
                return
            if isinstance(d, dict) and d.get("type") == "welcome":
                client.welcome = {"online_count": d.get("online_count")}
                client.mark_ready()

        async def probe(k: int) -> int | None:
            member = next(
                (m for m in self.by_room[k] if m.client and m.client.is_open), None
            )
            if member is None:
                return None
            async with sem:
                c, ok = await self.open_socket(member, member.server, None, k, on_text)
                await self.r.close_many([c])
            return c.welcome["online_count"] if ok and c.welcome else None

        return list(await asyncio.gather(*(probe(k) for k in range(len(self.by_room)))))

    def report(
        self,
        opened: int,
        victims: list[Member],
        want: list[int],
        all_back_s: float,
        still_open: int,
        presence: int | None,
        peer0: dict,
        peer1: dict,
        exact: dict[str, Any],
    ) -> None:
        o, r = self.o, self.r
        lost = dup = lost_sockets = dup_sockets = 0
        lost_sample: list[list[int]] = []
        dup_sample: list[list[int]] = []
        for m in self.members:
            expected = want[m.room] - m.base
            # Lost: seqs of the range never seen (one stored after the read of the last
            # seq cannot hide one that is missing); repeated: every frame past the first.
            missed = m.lost_seqs(want[m.room])
            lo, du = len(missed), stats.lost_and_dup(m.seen, m.frames, expected)[1]
            lost, dup = lost + lo, dup + du
            lost_sockets += lo > 0
            dup_sockets += du > 0
            if lo and len(lost_sample) < SAMPLE:
                lost_sample += [[m.room, s] for s in missed[:3]]
            if du and len(dup_sample) < SAMPLE:
                dup_sample += [[m.room, s] for s in m.repeated_seqs()[:3]]
        back_ns = [m.t_back - self.t_kill for m in victims if m.t_back]
        attempts = [m.attempts for m in victims if m.t_back]
        stored = sum(w - b for w, b in zip(want, self.base, strict=True))
        cpu = None if peer0["cpu_s"] is None else peer1["cpu_s"] - peer0["cpu_s"]
        rec = r.record(
            "storm",
            sockets=len(self.members),
            rooms=len(self.by_room),
            rate=o["rate"],
            kill_signal=o["kill_signal"],
            publish_via=o["publish_via"],
            backoff_base=o["backoff_base"],
            backoff_cap=o["backoff_cap"],
            opened=opened,
            victims=len(victims),
            back=len(back_ns),
            all_back=len(back_ns) == len(victims) and still_open == len(self.members),
            all_back_seconds=round(all_back_s, 3),
            still_open=still_open,
            time_to_welcome=stats.latency_summary(back_ns),
            attempts_mean=round(sum(attempts) / len(attempts), 2) if attempts else None,
            attempts_max=max(attempts, default=None),
            sent=self.sent,
            send_skipped=self.send_skipped,
            stored=stored,
            lost=lost,
            lost_sockets=lost_sockets,
            lost_sample=lost_sample[:SAMPLE],
            duplicated=dup,
            duplicated_sockets=dup_sockets,
            duplicated_sample=dup_sample[:SAMPLE],
            incomplete_welcomes=sum(m.incomplete for m in self.members),
            # How the stopped process's sockets ended: 1006 (killed), 1012 (drained).
            victim_drops=dict(Counter(m.drops[0] for m in victims if m.drops)),
            unexpected_drops=dict(self.unexpected),
            connect_failures=dict(self.connect_failures),
            # Restart: None (the process started again has no figure before the signal).
            survivor_cpu_s=None if cpu is None else round(cpu, 3),
            back_per_s=(
                round(len(back_ns) / all_back_s, 1) if back_ns and all_back_s else None
            ),
            survivor_rss_kb=peer1["rss_kb"],
            presence_rows_end=presence,
            **exact,
            errors=dict(r.errors),
        )
        if not o["quiet"]:
            t = rec["time_to_welcome"]
            print(
                f"[storm] {rec['back']}/{rec['victims']} back, all back {rec['all_back']};"
                f" time to welcome p50 {t['p50_ms']} p99 {t['p99_ms']} max {t['max_ms']}"
                f" ms; stored {stored} lost {lost} duplicated {dup};"
                f" presence exact {rec['presence_exact']}",
                file=sys.stderr,
                flush=True,
            )


def _closed_stub() -> WSClient:
    """A placeholder in the heartbeat list for a socket that never opened (send: False)."""
    stub = WSClient.__new__(WSClient)
    stub.state = 3  # CLOSED
    stub.welcome = None
    return stub
