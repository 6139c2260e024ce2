"""Socket routes register themselves here: the plumbing names no app.

An app declares its socket paths with `socket_path()` (in its routing.py) instead of
Django's `path()`/`re_path()`; the gate then knows each path's route label (metrics, logs)
before routing, and the route's metric series exist from the start. Each `path()` route
is also published (`published()`): docs/protocol.md and `/api/asyncapi.json` list them,
and a test keeps both true. Regex routes are catch-alls that only refuse, never published.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from channels.routing import URLRouter
from django.urls import Resolver404, URLPattern, path, re_path

from realtime.web import metrics

#: the first two segments of a route's paths (`("ws", "chat")`) -> its label
_labels: dict[tuple[str, ...], str] = {}
#: the published routes, by pattern
_published: dict[str, SocketRoute] = {}

#: `<str:slug>` or `<slug>` in a Django path pattern
_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


@dataclass(frozen=True)
class SocketRoute:
    """A socket path clients may open: its pattern, consumer and what it is for."""

    pattern: str
    consumer: Any
    summary: str
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def address(self) -> str:
        """The path as clients and AsyncAPI write it: `/ws/chat/{slug}/`."""
        return "/" + _CONVERTER.sub(r"{\1}", self.pattern)

    @property
    def template(self) -> str:
        """The path as docs/protocol.md writes it: `/ws/chat/<slug>/`."""
        return "/" + _CONVERTER.sub(r"<\1>", self.pattern)

    @property
    def param_names(self) -> tuple[str, ...]:
        """The path's parameters, in order."""
        return tuple(_CONVERTER.findall(self.pattern))


def socket_path(
    pattern: str,
    consumer: Any,
    *,
    regex: bool = False,
    summary: str = "",
    params: Mapping[str, str] | None = None,
) -> URLPattern:
    """`path(pattern, consumer.as_asgi())` (or re_path), registering the route's label.

    `consumer` is a SocketConsumer subclass; its `route` is the label of every socket
    path whose first two segments are those of `pattern`. A `path()` route is published
    with `summary` (else the consumer's docstring) and `params` (path parameter ->
    what it is; every parameter needs one).
    """
    literal = re.split(r"[<(\[?$\\]", pattern.lstrip("^"), maxsplit=1)[0]
    key = tuple(p for p in literal.split("/") if p)[:2]
    _labels[key] = consumer.route
    metrics.zero_route_series(consumer.route, json_route=consumer.json_only)
    if not regex:
        route = SocketRoute(
            pattern=pattern,
            consumer=consumer,
            summary=summary or (consumer.__doc__ or "").strip().split("\n")[0],
            params=dict(params or {}),
        )
        missing = set(route.param_names) - set(route.params)
        if missing:
            raise TypeError(f"socket_path({pattern!r}) needs params for {missing}")
        _published[pattern] = route
    make = re_path if regex else path
    return make(pattern, consumer.as_asgi())


def route_of(path: str) -> str:
    """The route label of a socket path (`/ws/chat/x/` -> "chat"); "other" if none."""
    parts = tuple(p for p in path.split("/") if p)[:2]
    return _labels.get(parts, "other")


def published() -> tuple[SocketRoute, ...]:
    """Every published socket route, by path (the order apps load in is no contract)."""
    return tuple(sorted(_published.values(), key=lambda route: route.address))


class SocketRouter(URLRouter):
    """Channels' URLRouter, routing the connection's scope in place instead of a copy.

    URLRouter hands the consumer `dict(scope, ...)` while its own frame keeps the
    original for the socket's life: one more scope on each idle socket, and whatever the
    consumer takes out of its copy (the gate's credentials, with the token's claims)
    stays in the original. There is one scope per connection and nothing reads it
    outside this chain, so `path_remaining` and `url_route` are set on it directly.
    The matching and the errors are URLRouter's; every route is a consumer
    (socket_path), never a nested router, so no other route is tried after one matched.
    """

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        path = scope.get("path_remaining", scope.get("path", None))
        if path is None:
            raise ValueError("No 'path' key in connection scope, cannot route URLs")
        if "path_remaining" not in scope:
            # The outermost router: strip root_path, as URLRouter does.
            root_path = scope.get("root_path", "")
            if root_path and not path.startswith(root_path):
                raise ValueError(f"No route found for path {path!r}.")
            path = path[len(root_path) :]
        path = path.lstrip("/")  # Django's matching has no leading slash
        for route in self.routes:
            try:
                match = route.pattern.match(path)
            except Resolver404:
                continue
            if match:
                new_path, args, kwargs = match
                kwargs.update(route.default_args)
                outer = scope.get("url_route", {})
                scope["path_remaining"] = new_path
                scope["url_route"] = {
                    "args": outer.get("args", ()) + args,
                    "kwargs": {**outer.get("kwargs", {}), **kwargs},
                }
                return await route.callback(scope, receive, send)
        if "path_remaining" in scope:
            raise Resolver404(f"No route found for path {path!r}.")
        raise ValueError(f"No route found for path {path!r}.")
