"""The gate in front of every socket route: capacity, handshake rate, Origin, credentials,
and the cap on sockets without credentials per client IP.

Each refusal happens before `accept` and before any database work it can avoid: the
server answers the handshake with HTTP 403 and nothing else is sent (PROTOCOL.md 3).
Malformed headers and query strings are refusals too, never an exception (a 500).
"""

from __future__ import annotations

import logging
import re
from importlib import import_module
from typing import Any
from urllib.parse import parse_qs, urlsplit

from channels.auth import get_user
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.cookie import parse_cookie
from django.http.request import split_domain_port, validate_host

from realtime.fanout.hub import hub
from realtime.socket.auth import (
    BadCredentials,
    Credentials,
    credentials_from_claims,
    validate_access_token,
)
from realtime.socket.closecodes import CloseCode
from realtime.socket.ratelimit import KeyedBuckets
from realtime.socket.routes import route_of
from realtime.web import metrics
from realtime.web.logs import trace_from_headers

log = logging.getLogger("realtime.gate")


def origin_allowed(origin: str | None, allowed_hosts: list[str]) -> bool:
    """A missing Origin is allowed (non-browser clients); a present one must be an allowed host."""
    if origin is None:
        return True
    try:
        parsed = urlsplit(origin)
        hostname = parsed.hostname
    except ValueError:  # "http://[::1" and other URLs urlsplit cannot take apart
        return False
    if parsed.scheme not in {"http", "https"} or not hostname:
        return False
    domain, _port = split_domain_port(parsed.netloc)
    return bool(domain) and validate_host(domain, allowed_hosts)


def bearer_from_headers(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The token of an `Authorization: Bearer` header, if any."""
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
    return None


class SocketGate:
    """ASGI middleware for the websocket routes; see the module docstring."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._handshakes: KeyedBuckets | None = None
        #: client IP -> its open sockets without credentials (handshakes included)
        self.anonymous: dict[str, int] = {}

    def _handshake_buckets(self) -> KeyedBuckets:
        if self._handshakes is None:
            rate = float(settings.WS_HANDSHAKE_RATE)
            self._handshakes = KeyedBuckets(rate, max(rate * 2, 1.0))
        return self._handshakes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        route = route_of(scope.get("path", ""))
        # The checks run in a frame of their own: this one lasts as long as the socket,
        # and must not keep the token, its claims and the parsed query (about 1 KB on
        # each idle socket). For the same reason the route is awaited here, not in a
        # helper coroutine (a frame more per socket).
        refusal = await self._admit(scope, route)
        if refusal is not None:
            return await self._refuse(receive, send, route, refusal)
        cap = int(settings.WS_MAX_ANON_CONNECTIONS_PER_IP)
        client = None  # counted against the cap: a socket without credentials
        if scope["credentials"] is None and cap > 0:
            client = (scope.get("client") or ("unknown", 0))[0]
            if self.anonymous.get(client, 0) >= cap:
                log.info(
                    "socket refused: anonymous sockets of this client at the cap",
                    extra={"route": route},
                )
                return await self._refuse(receive, send, route, "refused_anon_cap")
            self.anonymous[client] = self.anonymous.get(client, 0) + 1
        try:
            return await self.inner(scope, receive, send)
        except ValueError as exc:
            # The router (SocketRouter, as Channels' URLRouter) raises this for an
            # unknown path before reading anything: refuse like the others (HTTP 403).
            if not str(exc).startswith("No route found"):
                raise
            log.info("socket refused: no such path", extra={"route": route})
            return await self._refuse(receive, send, route, "refused_no_route")
        finally:
            if client is not None:
                # However the socket ended: refused, failed, closed, cancelled.
                left = self.anonymous[client] - 1
                if left:
                    self.anonymous[client] = left
                else:
                    del self.anonymous[client]

    async def _admit(self, scope: dict[str, Any], route: str) -> str | None:
        """The handshake outcome label of a refusal, or None: then the scope has the
        `trace_id`, `user` and `credentials` (None without any) the consumer reads."""
        headers = scope.get("headers", [])
        scope["trace_id"] = trace_from_headers(headers)
        if hub.draining:
            return "refused_draining"
        if len(hub.sockets) >= int(settings.WS_MAX_CONNECTIONS):
            return "refused_capacity"
        client = (scope.get("client") or ("unknown", 0))[0]
        if not self._handshake_buckets().take(client):
            metrics.child(metrics.RATE_LIMITED, route).inc()
            return "refused_rate"
        origin = next(
            (v.decode("latin-1") for k, v in headers if k.lower() == b"origin"), None
        )
        if not origin_allowed(origin, list(settings.ALLOWED_HOSTS)):
            return "refused_origin"

        # keep_blank_values: an empty `?token=` is a bad credential, not an absent one
        query = parse_qs(
            scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True
        )
        raw = (query.get("token") or [None])[0]
        if raw is None:
            raw = bearer_from_headers(headers)
        try:
            creds = await self._credentials(scope, raw)
        except BadCredentials as exc:
            log.info(
                "socket refused: %s",
                exc,
                extra={"route": route, "trace_id": scope["trace_id"]},
            )
            return "refused_auth"
        scope["user"] = creds.user if creds else AnonymousUser()  # None: not loaded yet
        scope["credentials"] = creds
        return None

    async def _credentials(
        self, scope: dict[str, Any], raw: str | None
    ) -> Credentials | None:
        if raw is not None:
            # The signature and claims only: the user row is loaded with the
            # handshake's one trip to the database (realtime.socket.door), batched.
            return credentials_from_claims(validate_access_token(raw))
        session_key = session_key_from_headers(scope.get("headers", []))
        if session_key:
            # Loaded lazily, in get_user()'s database thread. No session middleware wraps
            # `send`: sockets never write the session, and a wrapper costs every frame.
            engine = import_module(settings.SESSION_ENGINE)
            scope["session"] = engine.SessionStore(session_key=session_key)
            user = await get_user(scope)
            if user is not None and user.is_authenticated:
                if not user.is_active:
                    raise BadCredentials("inactive user")
                return Credentials(
                    user=user, method="session", exp=None, user_id=user.pk
                )
        return None

    @staticmethod
    async def _refuse(receive: Any, send: Any, route: str, outcome: str) -> None:
        metrics.child(metrics.HANDSHAKES, route, outcome).inc()
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.close", "code": int(CloseCode.REFUSED)})


#: what a session key can be (Django's are 32 of [a-z0-9]; signed-cookie sessions add
#: base64 and ":"): anything else names no session and never reaches the database
#: (a NUL, say, which PostgreSQL refuses with an error)
_SESSION_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,4096}")


def session_key_from_headers(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The Django session cookie's value, if the handshake carries a well-formed one."""
    name = settings.SESSION_COOKIE_NAME
    for key, value in headers:
        if key.lower() == b"cookie":
            cookies = parse_cookie(value.decode("latin-1"))
            found = cookies.get(name)
            if found and _SESSION_KEY.fullmatch(found):
                return found
    return None


def socket_gate(inner: Any) -> Any:
    """The stack in front of every socket route (the session cookie is read by the gate)."""
    return SocketGate(inner)
