"""Render BENCHMARKS.md from the load generator's JSON-lines records."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path

TARGETS = ("project", "stock", "ws", "picows")
#: the peers the project is held to, one column and one ratio each in the summary
PEERS = TARGETS[1:]
PACKAGES = (
    "Django",
    "channels",
    "daphne",
    "channels-redis",
    "redis",
    "websockets",
    "picows",
    "uvloop",
    "orjson",
    "uvicorn",
    "hypercorn",
    "granian",
    "psycopg",
)


def machine_info() -> dict[str, str]:
    """CPU model, cores, kernel, Python and the versions of the packages that matter."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "packages": ", ".join(versions),
    }


def _fmt(v: object, digits: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _ratio(a: float | None, b: float | None) -> str:
    # A ratio to nothing, or across a sign (a growth % against a shrink), says nothing.
    if a is None or b is None or not b or (a < 0) != (b < 0):
        return "-"
    return f"{a / b:.2f}x"


def _last(records: list[dict], **match: str) -> dict | None:
    found = None
    for r in records:
        if all(r.get(k) == v for k, v in match.items()):
            found = r
    return found


def _chat_figures(records: list[dict], scenario: str, target: str) -> dict:
    sweep = _last(records, kind="sweep", scenario=scenario, target=target)
    if sweep is not None:
        return sweep
    point = _last(records, kind="point", scenario=scenario, target=target)
    if point is None:
        return {}
    return {
        "saturation_delivered_per_s": point["delivered_per_s"] if point["ok"] else None,
        "max_delivered_per_s": point["delivered_per_s"],
        "max_clean_delivered_per_s": (
            point["delivered_per_s"]
            if point["expected"] and point["delivered"] >= 0.99 * point["expected"]
            else None
        ),
        "p99_at_half_saturation_ms": None,
        "server_us_per_frame_at_saturation": point["server"]["us_per_frame"],
        "room_size": point["room_size"],
    }


def _failed(rec: dict) -> int:
    """Sockets (capacity) or cycles (soak) that failed, whatever the reason."""
    return sum(rec["failures"].values())


def _band_rate(cap: dict, lo: int, hi: int) -> float | None:
    """Handshakes/s over the slices within [lo, hi) sockets (sockets over seconds)."""
    inside = [x for x in cap.get("slices", []) if lo <= x["from"] and x["to"] <= hi]
    if not inside or not all(x["per_s"] for x in inside):
        return None
    seconds = sum((x["to"] - x["from"]) / x["per_s"] for x in inside)
    return sum(x["to"] - x["from"] for x in inside) / seconds


def _flatness(cap: dict) -> tuple[float | None, float | None]:
    """(rate over the last fifth, rate over the fifth around the middle).

    "Flat from 5,000 to 10,000 sockets": 8,000-10,000 against 4,000-6,000. Two slices a
    side, as one 1,000-socket slice lasts 3 to 4 s and swings by a quarter run to run.
    """
    n = cap["sockets"]
    return _band_rate(cap, n - n // 5, n), _band_rate(
        cap, n // 2 - n // 10, n // 2 + n // 10
    )


def summary_rows(records: list[dict]) -> list[tuple[str, dict[str, object], bool]]:
    """(figure, value per target, higher_is_better) for the summary table."""
    rows: list[tuple[str, dict[str, object], bool]] = []
    for scenario in ("fanout", "fanout_activity", "fanout_updates", "rooms"):
        figs = {t: _chat_figures(records, scenario, t) for t in TARGETS}
        if not any(figs.values()):
            continue
        some = next(f for f in figs.values() if f)
        pts = [
            r for r in records if r.get("kind") == "point" and r["scenario"] == scenario
        ]
        shape = (
            f"{pts[0]['rooms']} room(s) of {pts[0]['room_size']:g}"
            if pts
            else f"rooms of {some.get('room_size')}"
        )
        if scenario == "fanout_activity" and pts:
            # Its room's sockets are two per member: chat and notify.
            shape = f"1 room of {pts[0]['room_size'] / 2:g}, chat + notify each"
        rows.append(
            (
                f"{scenario} ({shape}): delivered frames/s at saturation (p99 bounded)",
                {t: f.get("saturation_delivered_per_s") for t, f in figs.items()},
                True,
            )
        )
        rows.append(
            (
                f"{scenario}: highest delivered frames/s with < 1% lost",
                {t: f.get("max_clean_delivered_per_s") for t, f in figs.items()},
                True,
            )
        )
        rows.append(
            (
                f"{scenario}: highest delivered frames/s seen",
                {t: f.get("max_delivered_per_s") for t, f in figs.items()},
                True,
            )
        )
        rows.append(
            (
                f"{scenario}: saturation rate (messages/s)",
                {t: f.get("saturation_rate") for t, f in figs.items()},
                True,
            )
        )
        rows.append(
            (
                f"{scenario}: p99 ms at half the saturation rate",
                {t: f.get("p99_at_half_saturation_ms") for t, f in figs.items()},
                False,
            )
        )
        rows.append(
            (
                f"{scenario}: server CPU us per delivered frame (at saturation)",
                {
                    t: f.get("server_us_per_frame_at_saturation")
                    for t, f in figs.items()
                },
                False,
            )
        )
    caps = {t: _last(records, kind="capacity", target=t) for t in TARGETS}
    if any(caps.values()):
        n = next(c for c in caps.values() if c)["sockets"]
        rows.append(
            (
                f"capacity ({n:,} idle sockets): handshakes/s",
                {t: c and c["handshakes_per_s"] for t, c in caps.items()},
                True,
            )
        )
        if n >= 2000:
            mid = f"{n // 2 - n // 10:,}-{n // 2 + n // 10:,}"
            rows.append(
                (
                    f"capacity: handshakes/s from {mid} sockets",
                    {t: c and _flatness(c)[1] for t, c in caps.items()},
                    True,
                )
            )
            rows.append(
                (
                    f"capacity: handshakes/s from {n - n // 5:,}-{n:,} sockets",
                    {t: c and _flatness(c)[0] for t, c in caps.items()},
                    True,
                )
            )
        rows.append(
            (
                "capacity: server RSS KB per idle socket",
                {t: c and c["rss_per_socket_kb"] for t, c in caps.items()},
                False,
            )
        )
        rows.append(
            (
                "capacity: sockets that failed to open",
                {t: c and _failed(c) for t, c in caps.items()},
                False,
            )
        )
    soaks = {t: _last(records, kind="soak", target=t) for t in TARGETS}
    if any(soaks.values()):
        n = next(s for s in soaks.values() if s)["cycles"]
        rows.append(
            (
                f"soak ({n:,} connect/disconnect cycles): cycles/s",
                {t: s and s["cycles_per_s"] for t, s in soaks.items()},
                True,
            )
        )
        rows.append(
            (
                "soak: RSS growth % after warm-up",
                {t: s and s["rss_growth_pct"] for t, s in soaks.items()},
                False,
            )
        )
        rows.append(
            (
                "soak: file descriptors left after close",
                {t: s and s["fds_left"] for t, s in soaks.items()},
                False,
            )
        )
        rows.append(
            (
                "soak: presence rows left after close",
                {t: s and s["presence_rows_after_close"] for t, s in soaks.items()},
                False,
            )
        )
        rows.append(
            (
                "soak: failed cycles",
                {t: s and _failed(s) for t, s in soaks.items()},
                False,
            )
        )
    return rows


def project_variants(records: list[dict]) -> list[str]:
    """The `project-<server>` targets of these records: the project under another ASGI
    server (run_all's PROJECT_VARIANTS), in the order they were run."""
    seen = dict.fromkeys(
        r["target"] for r in records if r.get("target", "").startswith("project-")
    )
    return list(seen)


ASGI_SERVER_COLUMNS = (
    "fanout: delivered frames/s (< 1% lost)",
    "fanout: p99 ms at half saturation",
    "rooms: delivered frames/s (< 1% lost)",
    "capacity: handshakes/s",
    "capacity: KB/socket",
    "capacity: sockets that failed to open",
)


def asgi_server_rows(records: list[dict]) -> list[tuple[str, list[object]]]:
    """(server, figures per ASGI_SERVER_COLUMNS) for the project under each ASGI server,
    uvicorn (the `project` target) first; none unless a project-<server> target ran.

    The same figures as the summary's, from the same helpers.
    """
    variants = project_variants(records)
    if not variants:
        return []
    rows: list[tuple[str, list[object]]] = []
    for target in ("project", *variants):
        fanout = _chat_figures(records, "fanout", target)
        rooms = _chat_figures(records, "rooms", target)
        cap = _last(records, kind="capacity", target=target)
        name = (
            "uvicorn (`project`)"
            if target == "project"
            else target.removeprefix("project-")
        )
        rows.append(
            (
                name,
                [
                    fanout.get("max_clean_delivered_per_s"),
                    fanout.get("p99_at_half_saturation_ms"),
                    rooms.get("max_clean_delivered_per_s"),
                    cap and cap["handshakes_per_s"],
                    cap and cap["rss_per_socket_kb"],
                    cap and _failed(cap),
                ],
            )
        )
    return rows


def _verdict(ok: bool | None, detail: str) -> str:
    return ("n/a" if ok is None else ("met" if ok else "MISSED")) + f" ({detail})"


def target_checks(records: list[dict]) -> list[tuple[str, str]]:
    """Issue 7's targets for the project (and the later issues'), each with its
    verdict."""
    out: list[tuple[str, str]] = []
    verdict = _verdict

    f = {t: _chat_figures(records, "fanout", t) for t in TARGETS}
    p, s = (
        f["project"].get("max_clean_delivered_per_s"),
        f["stock"].get("max_clean_delivered_per_s"),
    )
    if f["project"]:
        out.append(
            (
                "fanout: delivered frames/s (< 1% lost) >= 10x stock",
                verdict(None if not (p and s) else p >= 10 * s, _ratio(p, s)),
            )
        )
        # Issue 13: the Cython ceiling on the same machine, in the same run.
        c = f["picows"].get("max_clean_delivered_per_s")
        out.append(
            (
                "fanout: delivered frames/s >= 60% of picows (< 1% lost)",
                verdict(None if not (p and c) else p >= 0.6 * c, _ratio(p, c)),
            )
        )
        p99 = f["project"].get("p99_at_half_saturation_ms")
        out.append(
            (
                "fanout p99 < 100 ms at half saturation",
                verdict(None if p99 is None else p99 < 100, f"{_fmt(p99)} ms"),
            )
        )
    act = _chat_figures(records, "fanout_activity", "project")
    if act and f["project"]:
        # Issue 15: each message goes out twice per member (chat frame, activity frame).
        a, c = act.get("saturation_rate"), f["project"].get("saturation_rate")
        out.append(
            (
                "fanout_activity: saturation messages/s >= half of fanout's (chat only)",
                verdict(None if not (a and c) else a >= c / 2, _ratio(a, c)),
            )
        )
    upd = _chat_figures(records, "fanout_updates", "project")
    if upd and f["project"]:
        # Issue 16: a change fans out at the frames/s a new message does.
        u = upd.get("saturation_delivered_per_s")
        c = f["project"].get("saturation_delivered_per_s")
        out.append(
            (
                "fanout_updates: message_updated frames/s at saturation = fanout's",
                verdict(None if not (u and c) else u >= 0.9 * c, _ratio(u, c)),
            )
        )
    r = {t: _chat_figures(records, "rooms", t) for t in TARGETS}
    if r["project"]:
        p, s = (
            r["project"].get("max_clean_delivered_per_s"),
            r["stock"].get("max_clean_delivered_per_s"),
        )
        out.append(
            (
                "rooms: delivered frames/s (< 1% lost) >= 3x stock",
                verdict(None if not (p and s) else p >= 3 * s, _ratio(p, s)),
            )
        )
    cap = _last(records, kind="capacity", target="project")
    cap_s = _last(records, kind="capacity", target="stock")
    if cap:
        kb = cap["rss_per_socket_kb"]
        held = cap.get("still_open", cap["opened"])  # records before the field: opened
        out.append(
            (
                f"capacity: {cap['sockets']:,} sockets at <= 25 KB each",
                # Every socket must still be open after the hold: RSS per socket of a
                # process that already dropped some would be a flattering figure.
                verdict(
                    None
                    if kb is None
                    else kb <= 25 and cap["opened"] >= 10000 and held >= cap["opened"],
                    f"{_fmt(kb, 2)} KB, {cap['opened']:,} opened, "
                    f"{held:,} still open after the hold",
                ),
            )
        )
        if cap_s:
            out.append(
                (
                    "capacity: handshakes/s >= stock's",
                    verdict(
                        cap["handshakes_per_s"] >= cap_s["handshakes_per_s"],
                        _ratio(cap["handshakes_per_s"], cap_s["handshakes_per_s"]),
                    ),
                )
            )
        out += capacity_checks(cap)
        if cap["sockets"] >= 2000 and cap["slices"]:
            last, mid = _flatness(cap)
            out.append(
                (
                    "capacity: handshakes/s flat: the last fifth of the sockets >= 80%"
                    " of the middle fifth's",
                    verdict(
                        None if not (mid and last) else last >= 0.8 * mid,
                        _ratio(last, mid),
                    ),
                )
            )
    for rec in [r for r in records if r.get("kind") == "search"]:
        p95 = rec["p95_ms"]
        out.append(
            (
                f"search ({rec['vendor']}, {rec['messages']:,} messages): p95 < 50 ms",
                verdict(p95 < 50 and rec["messages"] >= 1_000_000, f"{_fmt(p95)} ms"),
            )
        )
    out += storm_checks(records)
    soak = _last(records, kind="soak", target="project")
    if soak:
        g = soak["rss_growth_pct"]
        out.append(
            (
                f"soak: {soak['cycles']:,} cycles (target 100,000), RSS growth < 5%",
                verdict(
                    None if g is None else g < 5 and soak["cycles"] >= 100000,
                    f"{_fmt(g, 2)}% over {soak['cycles']:,} cycles",
                ),
            )
        )
        out.append(
            (
                "soak: no fd or presence row left",
                verdict(
                    soak["fds_left"] <= 0 and not soak["presence_rows_after_close"],
                    f"fds {soak['fds_left']}, rows "
                    f"{_fmt(soak['presence_rows_after_close'])}",
                ),
            )
        )
    return out


#: Issue 13: after the embedded process's restart, every client back within this (p99).
RESTART_P99_TARGET_MS = 15_000.0
#: Issue 13: after one of two cluster processes is stopped, its clients back within this.
STORM_P99_TARGET_MS = 10_000.0
#: Issue 13's door, one process on one core: handshakes/s by mode, CPU per handshake
#: (embedded), memory per idle socket.
HANDSHAKES_TARGET = {"embedded": 1200.0, "cluster": 1000.0}
HANDSHAKE_CPU_TARGET_MS = 0.8
SOCKET_KB_TARGET = 20.0


def capacity_checks(cap: dict) -> list[tuple[str, str]]:
    """Issue 13's door: the project's capacity run against the mode's targets."""
    out: list[tuple[str, str]] = []
    rate, mode = cap["handshakes_per_s"], cap.get("label")
    if mode in HANDSHAKES_TARGET:
        target = HANDSHAKES_TARGET[mode]
        out.append(
            (
                f"capacity: >= {target:,.0f} authenticated handshakes/s ({mode})",
                _verdict(rate >= target, f"{_fmt(rate)}/s"),
            )
        )
    cpu = cap.get("server_cpu_ms_per_handshake")
    if mode == "embedded" and cpu is not None:
        out.append(
            (
                f"capacity: server CPU per handshake <= {HANDSHAKE_CPU_TARGET_MS} ms",
                _verdict(cpu <= HANDSHAKE_CPU_TARGET_MS, f"{_fmt(cpu, 2)} ms"),
            )
        )
    kb = cap["rss_per_socket_kb"]
    held = cap.get("still_open", cap["opened"])
    if kb is not None:
        out.append(
            (
                f"capacity: <= {SOCKET_KB_TARGET:.0f} KB per idle socket, every one "
                "still open after the hold",
                _verdict(
                    kb <= SOCKET_KB_TARGET and held >= cap["sockets"],
                    f"{_fmt(kb, 2)} KB, {held:,} of {cap['sockets']:,} open",
                ),
            )
        )
    return out


def storm_checks(records: list[dict]) -> list[tuple[str, str]]:
    """Issue 13's storm: presence exact after the sweep; the restart's time to return."""
    out: list[tuple[str, str]] = []
    for r in (r for r in records if r.get("kind") == "storm"):
        sig = r["kill_signal"]
        if "presence_exact" in r:  # records from before the check have no verdict
            out.append(
                (
                    f"storm ({sig}): presence exact once all are back and the stopped "
                    "process's rows are gone (registry = open sockets; welcome counts "
                    "and announced users agree)",
                    _verdict(
                        r["presence_exact"],
                        f"{r['presence_mismatched_rooms']} of {r['rooms']} rooms "
                        f"wrong, {r['welcome_online_mismatched_rooms']} welcome counts "
                        f"wrong, {_fmt(r.get('announced_mismatched_rooms'))} announced "
                        f"wrong, {r['stopped_process_rows_left']} rows left",
                    ),
                )
            )
        p99 = r["time_to_welcome"]["p99_ms"]
        bound = RESTART_P99_TARGET_MS if sig == "RESTART" else STORM_P99_TARGET_MS
        out.append(
            (
                f"storm ({sig}): all back within {bound / 1000:.0f} s (p99) of the "
                f"{'SIGTERM' if sig == 'RESTART' else 'SIG' + sig}, nothing lost or twice",
                _verdict(
                    None
                    if p99 is None
                    else r["all_back"]
                    and p99 <= bound
                    and r["lost"] == r["duplicated"] == 0,
                    f"p99 {_fmt(p99)} ms, {r['back']:,} of {r['victims']:,} back, "
                    f"lost {r['lost']:,}, twice {r['duplicated']:,}",
                ),
            )
        )
    return out


def _points_table(records: list[dict], scenario: str) -> list[str]:
    pts = [r for r in records if r.get("kind") == "point" and r["scenario"] == scenario]
    if not pts:
        return []
    lines = [
        "| target | msgs/s | offered frames/s | delivered frames/s | p50 ms | p95 ms | "
        "p99 ms | max ms | lost | dup | server CPU | us/frame | loadgen CPU | ok |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for t in (*TARGETS, *project_variants(pts)):
        for p in sorted((p for p in pts if p["target"] == t), key=lambda p: p["rate"]):
            lat = p["latency"]
            lines.append(
                f"| {t} | {_fmt(p['rate'], 0)} | {_fmt(p['offered_frames_per_s'], 0)} | "
                f"{_fmt(p['delivered_per_s'], 0)} | {_fmt(lat['p50_ms'])} | "
                f"{_fmt(lat['p95_ms'])} | {_fmt(lat['p99_ms'])} | {_fmt(lat['max_ms'])} | "
                f"{p['lost']:,} | {p['dup']:,} | {_fmt(p['server']['cpu_util'], 2)} | "
                f"{_fmt(p['server']['us_per_frame'])} | {_fmt(p['client_cpu_util'], 2)} | "
                f"{'yes' if p['ok'] else 'no'} |"
            )
    return lines


def _storm_table(records: list[dict]) -> list[str]:
    """Issue 13's storm: one of two processes stopped, its clients back on the other."""
    storms = [r for r in records if r.get("kind") == "storm"]
    if not storms:
        return []
    lines = [
        "",
        "### storm",
        "",
        "Cluster: two processes of one cluster, both on the server core; the first "
        "stopped mid-flow (SIGKILL, or SIGTERM: its drain, 1012); its clients reconnect "
        "with full-jitter backoff and `since` to the survivor. Embedded (RESTART): the "
        "one process gets SIGTERM (drain, 1012), exits and is started again on the same "
        "port with the same database; its clients reconnect to it the same way. Time "
        "to welcome: from the signal to each of its clients' new welcome. Lost and "
        "twice: by seq, per socket, history and live together, no dedup. Presence: "
        "once all are back and the stopped process's rows are gone (swept, after a "
        "SIGKILL), the registry's users of every room = its members with a socket "
        "open, a fresh welcome's `online_count` counts them, and the presence frames "
        "last announced them (chat.AnnouncedPresence).",
        "",
        "| signal | sockets | rooms | msg/s | its clients | back | all back | "
        "time to welcome p50 / p99 / max ms | back / s to all back | stored | lost | "
        "twice | unexpected drops | presence exact |",
        "|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---|---|",
    ]
    for r in storms:
        t = r["time_to_welcome"]
        lines.append(
            f"| {r['kill_signal']} | {r['sockets']:,} | {r['rooms']:,} | "
            f"{_fmt(r['rate'])} | {r['victims']:,} | {r['back']:,} | "
            f"{'yes' if r['all_back'] else 'no'} | {_fmt(t['p50_ms'])} / "
            f"{_fmt(t['p99_ms'])} / {_fmt(t['max_ms'])} | "
            f"{_fmt(r['back_per_s'])} | {r['stored']:,} | "
            f"{r['lost']:,} | {r['duplicated']:,} | "
            f"{_fmt(sum(r['unexpected_drops'].values()))} | "
            f"{_yes(r.get('presence_exact'))} |"
        )
    return lines


def _yes(v: bool | None) -> str:
    return "-" if v is None else ("yes" if v else "no")


def _search_table(records: list[dict]) -> list[str]:
    """Issue 16's search: typical queries of one user through the views."""
    found = [r for r in records if r.get("kind") == "search"]
    if not found:
        return []
    lines = [
        "",
        "### search",
        "",
        "`manage.py bench_search`: one user, 100 rooms (60 public, 25 theirs private or "
        "direct, 15 others'), whole words, prefixes, accents left out, two words, a rare "
        "word, through the views (JSON rendered), after two warm-up runs.",
        "",
        "| database | messages | seeded s | p50 ms | p95 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in found:
        lines.append(
            f"| {r['vendor']} | {r['messages']:,} | {_fmt(r['seeded_s'])} | "
            f"{_fmt(r['p50_ms'])} | {_fmt(r['p95_ms'])} | {_fmt(r['max_ms'])} |"
        )
    return lines


def render(
    by_mode: dict[str, list[dict]],
    *,
    command: str,
    machine: dict[str, str],
    plot: str | None,
    commands: list[str] | None = None,
    quick: bool = False,
) -> str:
    """The whole BENCHMARKS.md."""
    out = ["# Benchmarks", ""]
    if quick:
        out += [
            "**Quick run (CI smoke): small N, seconds; these figures mean nothing.**",
            "",
        ]
    out += [
        "Generated by `bench/run_all.py`; do not edit by hand.",
        "",
        "## Machine",
        "",
        f"- CPU: {machine['cpu']}, {machine['cores']} cores; {machine['kernel']}",
        f"- Python {machine['python']}; {machine['packages']}",
        "- Server pinned to core 0, load generator to core 1 (`taskset`); one server "
        "process; the load generator is one asyncio process.",
        "",
        "## Command",
        "",
        f"    {command}",
        "",
    ]
    if plot:
        out += [f"![latency against offered rate]({plot})", ""]
    out += [
        "Targets: `project` is this project (`manage.py serve`), `stock` the Channels "
        "tutorial consumer on daphne (`bench/peers/stock_channels/`), `ws` a bare "
        "`websockets` broadcast server (`bench/peers/ws_broadcast.py`), `picows` the "
        "same on picows (`bench/peers/picows_broadcast.py`). Ratios are "
        "project / peer. Saturation: the highest offered rate whose delivered frames "
        "were at least 99% of sent x members with p99 under the bound.",
        "",
    ]
    for mode, records in by_mode.items():
        layer = (
            "in-memory layer, SQLite"
            if mode == "embedded"
            else "Redis (pub/sub layer for the peer), PostgreSQL"
        )
        out += [
            f"## Mode: {mode} ({layer})",
            "",
            "### Summary",
            "",
            "| figure | project | "
            + " | ".join(PEERS)
            + " | "
            + " | ".join(f"project/{t}" for t in PEERS)
            + " |",
            "|---|" + "---:|" * (1 + 2 * len(PEERS)),
        ]
        for name, vals, _higher in summary_rows(records):
            pv = vals.get("project")
            figures = [_fmt(vals.get(t)) for t in TARGETS]
            ratios = [_ratio(pv, vals.get(t)) for t in PEERS]  # type: ignore[arg-type]
            out.append(f"| {name} | " + " | ".join(figures + ratios) + " |")
        by_server = asgi_server_rows(records)
        if by_server:
            out += [
                "",
                "### ASGI server for the project (same app, same scenario)",
                "",
                "The project's app and env under each server (one worker, pinned to the "
                "same core), the same load (`--target project`); `project` is uvicorn, as "
                "`manage.py serve` runs it. Flags: `project_server_cmd` in "
                "`bench/servers.py`. '-': scenario not run (or no clean rate).",
                "",
                "| server | " + " | ".join(ASGI_SERVER_COLUMNS) + " |",
                "|---|" + "---:|" * len(ASGI_SERVER_COLUMNS),
            ]
            out += [
                f"| {name} | " + " | ".join(_fmt(v) for v in vals) + " |"
                for name, vals in by_server
            ]
        checks = target_checks(records)
        if checks:
            out += [
                "",
                "### Issue 7 targets (project)",
                "",
                "| target | verdict |",
                "|---|---|",
            ]
            out += [f"| {name} | {v} |" for name, v in checks]
        for scenario in ("fanout", "fanout_activity", "fanout_updates", "rooms"):
            table = _points_table(records, scenario)
            if table:
                out += ["", f"### {scenario}: every rate", ""] + table
        caps = [r for r in records if r.get("kind") == "capacity"]
        if caps:
            out += [
                "",
                "### capacity",
                "",
                "| target | sockets | opened | still open | handshakes/s | "
                "per slice of 1,000 (or N/5), /s | "
                "handshake p99 ms | server CPU ms/handshake | server / loadgen CPU | "
                "RSS before KB | RSS open KB | KB/socket | fds open | fds after close |",
                "|---|---:|---:|---:|---:|---|---:|---:|---|---:|---:|---:|---:|---:|",
            ]
            for c in caps:
                slices = ", ".join(_fmt(s["per_s"], 0) for s in c["slices"])
                out.append(
                    f"| {c['target']} | {c['sockets']:,} | {c['opened']:,} | "
                    f"{c.get('still_open', c['opened']):,} | "
                    f"{_fmt(c['handshakes_per_s'])} | {slices} | "
                    f"{_fmt(c['handshake']['p99_ms'])} | "
                    f"{_fmt(c.get('server_cpu_ms_per_handshake'), 2)} | "
                    f"{_fmt(c.get('server_cpu_util'), 2)} / "
                    f"{_fmt(c.get('client_cpu_util'), 2)} | {c['rss_before_kb']:,} | "
                    f"{c['rss_open_kb']:,} | {_fmt(c['rss_per_socket_kb'], 2)} | "
                    f"{c['fds_open']:,} | {c['fds_after_close']:,} |"
                )
        soaks = [r for r in records if r.get("kind") == "soak"]
        if soaks:
            out += [
                "",
                "### soak",
                "",
                "| target | cycles | seconds | cycles/s | failed | RSS warm KB | "
                "RSS end KB | growth % | RSS max KB | fds left | presence rows |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for s in soaks:
                out.append(
                    f"| {s['target']} | {s['cycles']:,} | {_fmt(s['seconds'])} | "
                    f"{_fmt(s['cycles_per_s'])} | {_failed(s)} | "
                    f"{_fmt(s['rss_warm_kb'])} | {_fmt(s['rss_end_kb'])} | "
                    f"{_fmt(s['rss_growth_pct'], 2)} | {_fmt(s['rss_max_kb'])} | "
                    f"{s['fds_left']} | {_fmt(s['presence_rows_after_close'])} |"
                )
        out += _storm_table(records)
        out += _search_table(records)
        out.append("")
    if commands:
        out += ["## Every load generator command", "", "```"] + commands + ["```", ""]
    return "\n".join(out)
