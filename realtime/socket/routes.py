"""Socket routes register themselves here: the plumbing names no app.

An app declares its socket paths with `socket_path()` (in its routing.py) instead of
Django's `path()`/`re_path()`; the gate then knows each path's route label (metrics, logs)
before routing, and the route's metric series exist from the start.
"""

from __future__ import annotations

import re
from typing import Any

from django.urls import URLPattern, path, re_path

from realtime.web import metrics

#: the first two segments of a route's paths (`("ws", "chat")`) -> its label
_labels: dict[tuple[str, ...], str] = {}


def socket_path(pattern: str, consumer: Any, *, regex: bool = False) -> URLPattern:
    """`path(pattern, consumer.as_asgi())` (or re_path), registering the route's label.

    `consumer` is a SocketConsumer subclass; its `route` is the label of every socket
    path whose first two segments are those of `pattern`.
    """
    literal = re.split(r"[<(\[?$\\]", pattern.lstrip("^"), maxsplit=1)[0]
    key = tuple(p for p in literal.split("/") if p)[:2]
    _labels[key] = consumer.route
    metrics.zero_route_series(consumer.route, json_route=consumer.json_only)
    make = re_path if regex else path
    return make(pattern, consumer.as_asgi())


def route_of(path: str) -> str:
    """The route label of a socket path (`/ws/chat/x/` -> "chat"); "other" if none."""
    parts = tuple(p for p in path.split("/") if p)[:2]
    return _labels.get(parts, "other")
