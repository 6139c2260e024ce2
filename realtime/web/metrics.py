"""Prometheus metrics of the socket layer; one process, one registry (scrape every pod)."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

SOCKETS_OPEN = Gauge("realtime_sockets_open", "Live sockets by route.", ["route"])
HANDSHAKES = Counter(
    "realtime_handshakes_total",
    "Socket handshakes by route and outcome.",
    ["route", "outcome"],
)
FRAMES_IN = Counter(
    "realtime_frames_in_total", "Frames received, by type.", ["route", "type"]
)
FRAMES_OUT = Counter(
    "realtime_frames_out_total", "Frames sent, by type.", ["route", "type"]
)
ERRORS = Counter(
    "realtime_errors_total",
    "Error frames and error closes, by code.",
    ["route", "code"],
)
FRAMES_BROKEN = Counter(
    "realtime_frames_broken_schema_total",
    "Frames the server would have sent that broke their schema (WS_CHECK_FRAMES): bugs.",
    ["route"],
)
RATE_LIMITED = Counter(
    "realtime_rate_limited_total", "Frames refused by the rate limit.", ["route"]
)
BROADCAST_SECONDS = Histogram(
    "realtime_broadcast_seconds",
    "From publish (after commit) to every local socket's enqueue, per broadcast (one"
    " event, or a run of one topic's events handed over together).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
BACKLOG_CLOSED = Counter(
    "realtime_outbound_backlog_closed_total",
    "Sockets closed 4503: backlog over bound.",
    ["route"],
)
FRAMES_DROPPED = Counter(
    "realtime_frames_dropped_total",
    "Frames the server gave up on, by reason.",
    ["reason"],
)
OUTBOUND_BACKLOG = Histogram(
    "realtime_outbound_backlog",
    "A socket's outbound queue depth, sampled when a frame is queued behind others.",
    buckets=(1, 2, 5, 10, 50, 100, 250, 500, 1000, 5000),
)
DB_POOL = Gauge("realtime_db_pool_connections", "Database pool connections.", ["state"])
CHANNEL_LAYER_UP = Gauge(
    "realtime_channel_layer_up", "1 while the channel layer answers."
)
DEGRADED = Gauge("realtime_degraded", "1 while cross-process delivery is down.")
READY = Gauge("realtime_ready", "1 while /readyz answers 200.")
DRAINING = Gauge("realtime_draining", "1 while the process drains.")


OUTCOMES = (
    "accepted",
    "refused_auth",
    "refused_origin",
    "refused_capacity",
    "refused_rate",
    "refused_draining",
    "refused_no_route",
    "refused_anon_cap",
)
ERROR_CODES = (
    "bad_json",
    "unknown_type",
    "invalid",
    "too_large",
    "rate_limited",
    "binary",
    "internal",
)


def zero_route_series(route: str, *, json_route: bool = True) -> None:
    """Create the series of a socket route at 0 (called as each route registers).

    A fresh process then exposes each metric and `rate()` has a starting point
    (Prometheus' advice on missing metrics).
    """
    SOCKETS_OPEN.labels(route=route)
    RATE_LIMITED.labels(route=route)
    BACKLOG_CLOSED.labels(route=route)
    FRAMES_IN.labels(route=route, type="heartbeat" if json_route else "text")
    FRAMES_OUT.labels(route=route, type="heartbeat" if json_route else route)
    if json_route:
        FRAMES_BROKEN.labels(route=route)
    for outcome in OUTCOMES:
        HANDSHAKES.labels(route=route, outcome=outcome)
    for code in ERROR_CODES:
        ERRORS.labels(route=route, code=code)


for _reason in ("backlog", "relay_queue_full", "layer_down"):
    FRAMES_DROPPED.labels(reason=_reason)


#: labelled children, per (metric, label values...). `.labels()` takes a lock, builds a
#: dict and str()s every value: 3% of the server's CPU in a handshake storm, where it ran
#: several times per handshake and once per frame. Every label value comes from a fixed
#: set (route labels, outcomes, the `type`s of a route's own table, error codes, reasons);
#: the bound is a guard should one ever come from a client: past it, children are
#: looked up each time, never kept (prometheus keeps them all anyway).
_children: dict[tuple[Any, ...], Any] = {}
MAX_CHILDREN = 2048


def child(metric: Any, *values: str) -> Any:
    """`metric.labels(*values)` (values in the metric's label order), memoised."""
    key = (metric, *values)
    found = _children.get(key)
    if found is None:
        found = metric.labels(*values)
        if len(_children) < MAX_CHILDREN:
            _children[key] = found
    return found


def frames_out(route: str, kind: str) -> Any:
    """FRAMES_OUT's child for (route, kind): fan-out counts every frame it sends."""
    return child(FRAMES_OUT, route, kind)
