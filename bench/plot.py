"""Plot latency (p50, p99) and delivered frames/s against the offered rate, per target.

python bench/plot.py bench/results/embedded/results.jsonl --out latency.png
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import orjson

COLORS = {
    "project": "tab:blue",
    "stock": "tab:red",
    "ws": "tab:green",
    "picows": "tab:olive",
    "project-daphne": "tab:purple",
    "project-hypercorn": "tab:orange",
    "project-granian": "tab:brown",
}


def load(paths: list[Path]) -> list[dict]:
    """Every record of the JSON-lines files."""
    records = []
    for path in paths:
        for line in path.read_bytes().splitlines():
            if line.strip():
                records.append(orjson.loads(line))
    return records


def plot(records: list[dict], out: Path) -> Path:
    """One column per (label, scenario): latency on top, delivered frames/s below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda v, _pos: f"{v:g}")

    series: dict[tuple[str, str], dict[str, list[dict]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for r in records:
        if r.get("kind") == "point":
            series[(r.get("label") or "", r["scenario"])][r["target"]].append(r)
    if not series:
        raise ValueError("no sweep points to plot")
    keys = sorted(series)
    fig, axes = plt.subplots(2, len(keys), figsize=(5.5 * len(keys), 8), squeeze=False)
    for col, key in enumerate(keys):
        label, scenario = key
        top, bottom = axes[0][col], axes[1][col]
        for target, points in sorted(series[key].items()):
            pts = sorted(points, key=lambda p: p["rate"])
            rates = [p["rate"] for p in pts]
            color = COLORS.get(target)
            p50 = [p["latency"]["p50_ms"] for p in pts]
            p99 = [p["latency"]["p99_ms"] for p in pts]
            top.plot(rates, p99, "o-", color=color, label=f"{target} p99")
            top.plot(rates, p50, "s--", color=color, alpha=0.6, label=f"{target} p50")
            bottom.plot(
                rates,
                [p["delivered_per_s"] for p in pts],
                "o-",
                color=color,
                label=f"{target} delivered",
            )
            bottom.plot(
                rates,
                [p["offered_frames_per_s"] for p in pts],
                ":",
                color=color,
                alpha=0.5,
            )
        size = next(iter(series[key].values()))[0]
        what = f"{scenario}: {size['rooms']} room(s) of {size['room_size']:g}" + (
            f" [{label}]" if label else ""
        )
        top.set_title(what)
        for ax in (top, bottom):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.xaxis.set_major_formatter(plain)
            ax.yaxis.set_major_formatter(plain)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
        top.set_ylabel("latency (ms)")
        bottom.set_ylabel("delivered frames/s (dotted: offered)")
        bottom.set_xlabel("offered messages/s")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("latency.png"))
    args = parser.parse_args(argv)
    try:
        plot(load(args.results), args.out)
    except ValueError as exc:
        print(f"plot: {exc}", file=sys.stderr)
        return 1
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
