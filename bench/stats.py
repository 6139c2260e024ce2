"""Pure counting helpers of the load generator: percentiles, lost and duplicated frames."""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence

PERCENTILES = (50.0, 95.0, 99.0)


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending sequence; None when it is empty."""
    n = len(sorted_values)
    if n == 0:
        return None
    if not 0.0 <= p <= 100.0:
        raise ValueError(f"percentile out of range: {p}")
    rank = max(1, math.ceil(p / 100.0 * n))
    return float(sorted_values[rank - 1])


def latency_summary(
    samples_ns: Iterable[int], scale: float = 1e-6
) -> dict[str, float | int | None]:
    """p50/p95/p99/max/mean of latency samples in ns, returned in ms (by default)."""
    values = _sorted(samples_ns)
    n = len(values)
    out: dict[str, float | int | None] = {"samples": n}
    for p in PERCENTILES:
        v = percentile(values, p)
        out[f"p{int(p)}_ms"] = None if v is None else round(v * scale, 3)
    if n:
        out["max_ms"] = round(float(values[-1]) * scale, 3)
        total = values.sum() if hasattr(values, "sum") else sum(values)
        out["mean_ms"] = round(float(total) / n * scale, 3)
    else:
        out["max_ms"] = None
        out["mean_ms"] = None
    return out


def _sorted(samples: Iterable[int]) -> Sequence[int]:
    # Millions of samples: numpy sorts an int64 array in a fraction of sorted()'s time.
    try:
        import numpy as np
    except ImportError:
        return sorted(samples)
    if isinstance(samples, array):
        arr = np.frombuffer(samples, dtype=np.int64) if samples.itemsize == 8 else None
        if arr is not None:
            return np.sort(arr)
    return np.sort(np.fromiter(samples, dtype=np.int64))


def mark(seen: bytearray, index: int) -> bool:
    """Count one arrival of message `index` in a receiver's tally; False if out of range.

    The tally grows as needed; a count saturates at 255 (dup counting stays exact
    because it uses the frame total, not the sum of the tally).
    """
    if index < 0:
        return False
    if index >= len(seen):
        seen.extend(bytes(index - len(seen) + 1 + 1024))
    v = seen[index]
    if v < 255:
        seen[index] = v + 1
    return True


def unique_count(seen: bytearray) -> int:
    """How many distinct messages a tally holds."""
    return len(seen) - seen.count(0)


def lost_and_dup(seen: bytearray, frames: int, expected: int) -> tuple[int, int]:
    """Lost and duplicated frames of one receiver.

    `seen` counts arrivals per message key (a room `seq` offset, or the per-room counter
    in the body), `frames` is every frame marked in it, `expected` how many messages
    were sent to the receiver's room while it listened. Lost: expected messages never
    seen; duplicated: frames beyond the first of each key.
    """
    unique = unique_count(seen)
    return max(expected - unique, 0), max(frames - unique, 0)


def slice_rates(ready_times: Sequence[float], t0: float, size: int) -> list[dict]:
    """Completion rate (per second) of each consecutive `size`-wide slice of events."""
    times = sorted(ready_times)
    out = []
    prev_t = t0
    for end in range(size, len(times) + 1, size):
        t = times[end - 1]
        dt = t - prev_t
        out.append(
            {
                "from": end - size,
                "to": end,
                "per_s": round(size / dt, 1) if dt > 0 else None,
            }
        )
        prev_t = t
    rest = len(times) % size
    if rest and len(times) > size:
        t = times[-1]
        dt = t - prev_t
        out.append(
            {
                "from": len(times) - rest,
                "to": len(times),
                "per_s": round(rest / dt, 1) if dt > 0 else None,
            }
        )
    return out


def saturation_point(
    points: Sequence[dict],
    *,
    delivered_ratio: float = 0.99,
    p99_bound_ms: float = 500.0,
) -> dict | None:
    """The highest offered rate whose point delivered almost all frames with p99 bounded."""
    best = None
    for point in sorted(points, key=lambda p: p["rate"]):
        if point_ok(point, delivered_ratio=delivered_ratio, p99_bound_ms=p99_bound_ms):
            best = point
    return best


def point_ok(
    point: dict, *, delivered_ratio: float = 0.99, p99_bound_ms: float = 500.0
) -> bool:
    """Whether one sweep point kept up: delivered ~ sent x members, p99 bounded."""
    expected = point.get("expected") or 0
    if expected <= 0:
        return False
    if point["delivered"] < delivered_ratio * expected:
        return False
    p99 = point.get("latency", {}).get("p99_ms")
    if p99 is None or p99 > p99_bound_ms:
        return False
    # The generator must have offered what was asked, or the point says nothing.
    return point.get("sent", 0) >= 0.97 * point.get("planned", 0)
