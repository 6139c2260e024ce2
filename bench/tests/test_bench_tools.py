"""The bench tools against the peers (small N, low rate, seconds), and their counting.

These assert that the tools run and count correctly, never a timing.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from bench import loadgen, plot, report, run_all, servers, stats
from bench.client import WSClient, encode_frame, open_client, parse_frames
from bench.tests.conftest import run_all_quick, run_loadgen

PEERS = pytest.mark.parametrize("peer", ["ws", "picows", "stock"], indirect=True)


# Counting functions


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert stats.percentile(values, 50) == 50
    assert stats.percentile(values, 99) == 99
    assert stats.percentile(values, 100) == 100
    assert stats.percentile(values, 0) == 1
    assert stats.percentile([7], 99) == 7
    assert stats.percentile([], 50) is None


def test_percentile_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        stats.percentile([1, 2], 101)


def test_latency_summary_converts_ns_to_ms() -> None:
    s = stats.latency_summary([1_000_000 * i for i in range(1, 101)])
    assert s["samples"] == 100
    assert (s["p50_ms"], s["p95_ms"], s["p99_ms"], s["max_ms"]) == (50, 95, 99, 100)
    assert s["mean_ms"] == 50.5
    assert stats.latency_summary([])["p99_ms"] is None


def test_lost_and_dup_count_against_the_keys_sent() -> None:
    seen = bytearray()
    frames = 0
    for key in [0, 1, 1, 3, 4, 4, 4]:  # 2 never arrives; 1 twice; 4 three times
        assert stats.mark(seen, key)
        frames += 1
    assert stats.lost_and_dup(seen, frames, expected=5) == (1, 3)
    assert stats.lost_and_dup(seen, frames, expected=7) == (3, 3)


def test_a_clean_receiver_has_nothing_lost_or_duplicated() -> None:
    seen = bytearray()
    for key in range(1000):
        stats.mark(seen, key)
    assert stats.lost_and_dup(seen, 1000, 1000) == (0, 0)
    assert stats.unique_count(seen) == 1000


def test_mark_refuses_negative_keys_and_saturates() -> None:
    seen = bytearray()
    assert not stats.mark(seen, -1)
    for _ in range(300):
        stats.mark(seen, 0)
    assert seen[0] == 255
    assert stats.lost_and_dup(seen, 300, 1) == (0, 299)


def test_slice_rates_measure_each_slice() -> None:
    times = [0.001 * i for i in range(1, 2001)]  # 1,000/s throughout
    slices = stats.slice_rates(times, 0.0, 1000)
    assert [s["to"] for s in slices] == [1000, 2000]
    assert all(round(s["per_s"]) == 1000 for s in slices)


def test_saturation_point_is_the_highest_rate_that_kept_up() -> None:
    def point(rate: float, delivered: int, p99: float) -> dict:
        return {
            "rate": rate,
            "expected": 1000,
            "delivered": delivered,
            "sent": 10,
            "planned": 10,
            "latency": {"p99_ms": p99},
        }

    points = [
        point(1, 1000, 5),
        point(2, 1000, 50),
        point(4, 1000, 900),
        point(8, 700, 50),
    ]
    assert stats.saturation_point(points, p99_bound_ms=500)["rate"] == 2
    assert stats.saturation_point([point(1, 10, 1)]) is None


def test_frames_round_trip_through_the_client_codec() -> None:
    from websockets.utils import apply_mask

    payload = b'{"type":"message","body":"x"}'
    frame = encode_frame(1, payload)
    assert frame[0] == 0x81 and frame[1] & 0x80  # final text frame, masked
    mask, data = frame[2:6], frame[6:]
    assert apply_mask(data, mask) == payload
    big = b"y" * 70000
    server_frames = (
        bytes([0x81, 5])
        + b"hello"
        + bytes([0x81, 127])
        + len(big).to_bytes(8, "big")
        + big
        + bytes([0x81, 126, 0])
    )  # the last one is incomplete
    frames, used = parse_frames(server_frames)
    assert [(op, fin, len(p)) for op, fin, p in frames] == [
        (1, True, 5),
        (1, True, 70000),
    ]
    assert used == len(server_frames) - 3


@pytest.mark.parametrize(
    "url",
    [
        "ws://10.0.0.1:8000",
        "ws://example.com:80",
        "ws://192.168.1.2:1",
        "wss://127.0.0.1:8000",
        "ws://8.8.8.8",
    ],
)
def test_only_loopback_targets_are_accepted(url: str) -> None:
    with pytest.raises(loadgen.BenchError):
        loadgen.check_url(url)


def test_loopback_targets_are_accepted() -> None:
    assert loadgen.check_url("ws://127.0.0.1:8000") == ("127.0.0.1", 8000)
    assert loadgen.check_url("ws://localhost:9000/") == ("127.0.0.1", 9000)


def test_the_script_refuses_a_remote_target_and_oversized_runs() -> None:
    script = str(servers.BENCH_DIR / "loadgen.py")
    for extra in (
        ["--url", "ws://10.1.2.3:80"],
        ["--sockets", "100000"],
        ["--duration", "100000"],
    ):
        proc = subprocess.run(
            [sys.executable, script, "capacity", "--target", "ws", *extra],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2, (extra, proc.stderr)


# Scenarios against the peers


@PEERS
@pytest.mark.timeout(120)
def test_fanout_delivers_every_message_to_every_member_once(
    peer: servers.Server, tmp_path: Path
) -> None:
    recs = run_loadgen(
        "fanout",
        peer.name,
        peer,
        tmp_path / "r.jsonl",
        "--members",
        "12",
        "--publishers",
        "3",
        "--rate",
        "10",
        "--duration",
        "2",
        "--settle",
        "0.2",
    )
    (point,) = recs
    assert point["kind"] == "point" and point["count_by"] == "body"
    assert point["listening"] == 12 and point["connect_failures"] == {}
    assert point["sent"] == point["planned"] == 20
    assert point["expected"] == point["sent"] * 12
    assert point["delivered"] == point["expected"]
    assert (point["lost"], point["dup"], point["stale"]) == (0, 0, 0)
    assert point["latency"]["samples"] == point["delivered"]


@PEERS
@pytest.mark.timeout(120)
def test_rooms_deliver_each_message_to_its_own_room_only(
    peer: servers.Server, tmp_path: Path
) -> None:
    recs = run_loadgen(
        "rooms",
        peer.name,
        peer,
        tmp_path / "r.jsonl",
        "--rooms",
        "6",
        "--room-size",
        "4",
        "--rate",
        "24",
        "--duration",
        "2",
        "--settle",
        "0.2",
    )
    (point,) = recs
    assert point["rooms"] == 6 and point["room_size"] == 4 and point["listening"] == 24
    assert point["sent"] == 48
    assert point["delivered"] == point["expected"] == 48 * 4
    assert (point["lost"], point["dup"]) == (0, 0)


@PEERS
@pytest.mark.timeout(120)
def test_capacity_opens_every_socket_and_reads_the_server(
    peer: servers.Server, tmp_path: Path
) -> None:
    recs = run_loadgen(
        "capacity",
        peer.name,
        peer,
        tmp_path / "r.jsonl",
        "--sockets",
        "60",
        "--room-size",
        "20",
        "--concurrency",
        "20",
        "--hold",
        "0.2",
        "--settle",
        "0.5",
    )
    (cap,) = recs
    assert cap["opened"] == cap["still_open"] == 60 and cap["failures"] == {}
    assert cap["server_pids"] == [peer.pid]
    assert cap["fds_open"] - cap["fds_before"] >= 60  # one fd per socket, seen in /proc
    assert cap["rss_open_kb"] > 0 and cap["rss_per_socket_kb"] is not None
    assert cap["handshake"]["samples"] == 60
    assert sum(s["to"] - s["from"] for s in cap["slices"]) == 60


@PEERS
@pytest.mark.timeout(120)
def test_soak_runs_the_requested_cycles(peer: servers.Server, tmp_path: Path) -> None:
    recs = run_loadgen(
        "soak",
        peer.name,
        peer,
        tmp_path / "r.jsonl",
        "--cycles",
        "80",
        "--concurrency",
        "4",
        "--rooms",
        "3",
        "--settle",
        "0.5",
        "--sample-interval",
        "0.1",
    )
    (soak,) = recs
    assert soak["cycles"] == 80 and soak["failures"] == {}
    assert soak["unexpected_closes"] == {}
    assert soak["handshake"]["samples"] == 80
    assert soak["samples"] and soak["samples"][-1]["cycles"] == 80
    assert soak["fds_left"] == 0
    assert soak["presence_rows_after_close"] is None  # peers have no presence table


@pytest.mark.parametrize("peer", ["ws", "picows"], indirect=True)
@pytest.mark.timeout(30)
async def test_a_bare_peer_relays_a_fragmented_message_whole_to_its_path_only(
    peer: servers.Server,
) -> None:
    # picows hands frames to the peer as they come; websockets gathers messages. The
    # picows peer must relay what the ws peer relays: the whole message, one frame.
    got: dict[int, list[bytes]] = {0: [], 1: [], 2: []}

    def on_text(client: WSClient, data: bytes, now: int) -> None:
        got[client.index].append(bytes(data))

    paths = ["/ws/chat/a/", "/ws/chat/a/?x=1", "/ws/chat/b/"]  # the query is no room
    clients = [
        await open_client(f"{peer.url}{path}", "127.0.0.1", peer.port, i, 0, on_text)
        for i, path in enumerate(paths)
    ]
    assert all(c.opened.result() for c in clients)
    first = encode_frame(1, b'{"body":')  # text, then its continuation
    clients[0].transport.write(bytes([first[0] & 0x7F]) + first[1:])
    clients[0].transport.write(encode_frame(0, b'"x"}'))
    clients[0].send(b'{"body":"y"}')
    for _ in range(100):
        if len(got[0]) == len(got[1]) == 2:
            break
        await asyncio.sleep(0.02)
    assert got[0] == got[1] == [b'{"body":"x"}', b'{"body":"y"}']
    assert got[2] == []
    for c in clients:
        await c.close()
        assert c.close_code in (None, 1000) and c.error is None


@pytest.mark.timeout(120)
def test_sweep_records_each_rate_and_the_saturation_point(
    ws_peer: servers.Server, tmp_path: Path
) -> None:
    recs = run_loadgen(
        "fanout",
        "ws",
        ws_peer,
        tmp_path / "r.jsonl",
        "--members",
        "5",
        "--publishers",
        "2",
        "--sweep",
        "4,8",
        "--duration",
        "1",
        "--settle",
        "0.2",
    )
    points = [r for r in recs if r["kind"] == "point"]
    (sweep,) = [r for r in recs if r["kind"] == "sweep"]
    assert [p["rate"] for p in points] == [4, 8]
    assert all(p["delivered"] == p["expected"] == p["sent"] * 5 for p in points)
    assert sweep["rates"] == [4, 8]
    # Stale frames of rate 4 must not leak into rate 8's tally.
    assert points[1]["stale"] == 0 and points[1]["dup"] == 0


@pytest.mark.timeout(120)
def test_the_loadtest_command_runs_the_generator(ws_peer: servers.Server) -> None:
    from bench.management.commands.loadtest import Command

    parser = Command().create_parser("manage.py", "loadtest")
    opts = vars(
        parser.parse_args(
            [
                "fanout",
                "--target",
                "ws",
                "--url",
                ws_peer.url,
                "--members",
                "4",
                "--publishers",
                "1",
                "--rate",
                "5",
                "--duration",
                "1",
                "--settle",
                "0",
                "--quiet",
            ]
        )
    )
    records = loadgen.run(opts)
    assert records[0]["delivered"] == records[0]["sent"] * 4 == 20


def _sample_records() -> list[dict]:
    def point(target: str, rate: float, delivered: float, p99: float) -> dict:
        return {
            "kind": "point",
            "scenario": "fanout",
            "target": target,
            "label": "embedded",
            "rate": rate,
            "rooms": 1,
            "room_size": 10.0,
            "offered_frames_per_s": rate * 10,
            "delivered_per_s": delivered,
            "expected": 100,
            "delivered": 100,
            "sent": 10,
            "planned": 10,
            "lost": 0,
            "dup": 0,
            "ok": True,
            "client_cpu_util": 0.1,
            "latency": {
                "p50_ms": p99 / 2,
                "p95_ms": p99,
                "p99_ms": p99,
                "max_ms": p99 * 2,
            },
            "server": {"cpu_util": 0.5, "us_per_frame": 20.0},
        }

    recs = [
        point(t, r, r * 10, 5.0 * k)
        for k, t in enumerate(["project", "stock", "ws", "picows"], 1)
        for r in (1, 2, 4)
    ]
    for t, sat in (
        ("project", 400.0),
        ("stock", 40.0),
        ("ws", 800.0),
        ("picows", 500.0),
    ):
        recs.append(
            {
                "kind": "sweep",
                "scenario": "fanout",
                "target": t,
                "label": "embedded",
                "saturation_rate": sat / 10,
                "saturation_delivered_per_s": sat,
                "max_delivered_per_s": sat,
                "max_clean_delivered_per_s": sat,
                "p99_at_half_saturation_ms": 20.0,
                "server_us_per_frame_at_saturation": 20.0,
                "room_size": 10.0,
            }
        )
    return recs


def test_plot_writes_a_png(tmp_path: Path) -> None:
    src = tmp_path / "r.jsonl"
    src.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in _sample_records()))
    out = tmp_path / "latency.png"
    assert plot.main([str(src), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_gives_figures_and_ratios_to_every_peer() -> None:
    text = report.render(
        {"embedded": _sample_records()},
        command="python bench/run_all.py",
        machine=report.machine_info(),
        plot="latency.png",
    )
    row = next(
        line
        for line in text.splitlines()
        if line.startswith("| fanout (1 room(s) of 10): delivered frames/s")
    )
    header = next(x for x in text.splitlines() if x.startswith("| figure |"))
    assert header.split("|")[2:9] == [
        " project ",
        " stock ",
        " ws ",
        " picows ",
        " project/stock ",
        " project/ws ",
        " project/picows ",
    ]
    assert row.split("|")[2:9] == [
        " 400.0 ",
        " 40.0 ",
        " 800.0 ",
        " 500.0 ",
        " 10.00x ",
        " 0.50x ",
        " 0.80x ",
    ]
    assert (
        "| fanout: delivered frames/s (< 1% lost) >= 10x stock | met (10.00x) |" in text
    )
    assert "## Machine" in text and "Python 3." in text


@pytest.mark.parametrize(
    ("picows", "verdict"),
    [(500.0, "met (0.80x)"), (666.0, "met (0.60x)"), (700.0, "MISSED (0.57x)")],
)
def test_report_holds_fanout_to_sixty_percent_of_picows(
    picows: float, verdict: str
) -> None:
    recs = [
        {**r, "max_clean_delivered_per_s": picows} if r["target"] == "picows" else r
        for r in _sample_records()
        if r["kind"] == "sweep"
    ]  # the project's fanout delivers 400 frames/s with < 1% lost
    text = report.render(
        {"embedded": recs}, command="x", machine=report.machine_info(), plot=None
    )
    line = f"| fanout: delivered frames/s >= 60% of picows (< 1% lost) | {verdict}"
    assert line in text


def test_report_says_n_a_to_picows_when_it_did_not_run() -> None:
    recs = [r for r in _sample_records() if r["target"] != "picows"]
    text = report.render(
        {"embedded": recs}, command="x", machine=report.machine_info(), plot=None
    )
    assert (
        "| fanout: delivered frames/s >= 60% of picows (< 1% lost) | n/a (-) |" in text
    )


@pytest.mark.parametrize(("rate", "verdict"), [(20.0, "met (0.50x)"), (19.0, "MISSED")])
def test_report_holds_fanout_activity_to_half_of_fanouts_saturation(
    rate: float, verdict: str
) -> None:
    recs = [r for r in _sample_records() if r["kind"] == "sweep"]
    recs.append(
        {**recs[0], "scenario": "fanout_activity", "saturation_rate": rate}
    )  # fanout's project saturation rate is 40 msgs/s
    text = report.render(
        {"embedded": recs}, command="x", machine=report.machine_info(), plot=None
    )
    line = next(
        x
        for x in text.splitlines()
        if x.startswith("| fanout_activity: saturation") and "half of fanout's" in x
    )
    assert verdict in line


@pytest.mark.timeout(300)
def test_run_all_quick_writes_the_report(tmp_path: Path) -> None:
    # capacity and rooms have quick tests of their own against every peer (above).
    proc = run_all_quick(
        tmp_path, "--targets", "ws,picows", "--scenarios", "fanout,soak"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "Quick run" in text
    assert "loadgen.py soak --target ws" in text
    assert "loadgen.py soak --target picows" in text
    recs = [
        orjson.loads(line)
        for line in (tmp_path / "embedded" / "results.jsonl").read_bytes().splitlines()
    ]
    for target in ("ws", "picows"):
        kinds = {r["kind"] for r in recs if r["target"] == target}
        assert kinds == {"point", "sweep", "soak"}, target
    for p in (r for r in recs if r["kind"] == "point"):
        assert p["delivered"] == p["expected"] > 0 and (p["lost"], p["dup"]) == (0, 0)
    assert (tmp_path / "latency.png").exists()


def test_run_all_runs_picows_by_default_beside_ws() -> None:
    assert {"ws", "picows"} <= set(run_all.DEFAULT_TARGETS)


def test_a_missing_picows_fails_the_start_saying_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = servers.importlib.util.find_spec
    monkeypatch.setattr(
        servers.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "picows" else real(name, *a),
    )
    with pytest.raises(
        servers.ServerError, match="pip install -r requirements-dev.txt"
    ):
        servers.start_picows_peer()


def test_a_merged_run_keeps_the_earlier_rows_and_commands_of_what_it_did_not_run(
    tmp_path,
):
    import argparse

    earlier = [
        {"scenario": "fanout", "target": "project", "x": 1},
        {"scenario": "fanout", "target": "ws", "x": 2},
        {"scenario": "rooms", "target": "project", "x": 3},
    ]
    (tmp_path / "loadgen_commands.txt").write_text(
        "python bench/loadgen.py fanout --target project --url u\n"
        "python bench/loadgen.py fanout --target ws --url u\n"
        "python bench/loadgen.py rooms --target project --url u\n"
    )
    args = argparse.Namespace(scenarios=["fanout"], targets=["project"])
    fresh = [{"scenario": "fanout", "target": "project", "x": 9}]
    kept, commands = run_all.merged(
        b"".join(orjson.dumps(r) + b"\n" for r in earlier), fresh, tmp_path, args
    )
    assert [r["x"] for r in kept] == [2, 3]
    assert commands == [
        "python bench/loadgen.py fanout --target ws --url u",
        "python bench/loadgen.py rooms --target project --url u",
    ]
    assert run_all.merged(b"", fresh, tmp_path, args) == ([], [])


def test_a_merged_run_names_no_earlier_run_whose_every_row_it_replaced():
    import argparse

    args = argparse.Namespace(scenarios=["capacity", "soak"], targets=["project", "ws"])
    replaced = (
        "python bench/run_all.py --mode embedded --targets project --scenarios soak"
    )
    partly = "python bench/run_all.py --merge --targets project,stock --scenarios soak"
    other = "python bench/run_all.py --merge --targets project --scenarios fanout"
    assert run_all.superseded(replaced, args)
    assert not run_all.superseded(partly, args)
    assert not run_all.superseded(other, args)
    assert not run_all.superseded("python bench/run_all.py --quick", args)
