"""Rates in the shared cache: failed sign-ins, and the DRF throttles of the REST API.

The client is `REMOTE_ADDR`, never an `X-Forwarded-For` header a client can set:
`manage.py serve` resolves forwarded addresses against TRUSTED_PROXIES before Django
runs, so REMOTE_ADDR is already the true client. IPv6 clients are counted by their /64,
the block one subscriber gets (a client owning a /64 would otherwise have 2**64 IPs).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
import unicodedata
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin
from redis.exceptions import RedisError
from rest_framework.exceptions import Throttled
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import ScopedRateThrottle, SimpleRateThrottle

from realtime.web.errors import error_body

log = logging.getLogger("realtime.throttle")

#: how long the counters stay in process memory after the shared cache failed
SHARED_RETRY_SECONDS = 5.0

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """`"10/min"` -> (10, 60); empty -> None (off). The format of DRF's rates."""
    if not rate or not rate.strip():
        return None
    try:
        count, period = rate.strip().split("/")
        number, seconds = int(count), _PERIODS[period.strip()[:1].lower()]
    except (ValueError, KeyError):
        raise ValueError(
            f"{rate!r} is not a rate: use N/s, N/min, N/hour or N/day"
        ) from None
    if number < 1:
        raise ValueError(f"{rate!r} is not a rate: N must be at least 1")
    return number, seconds


def client_key(request: Any) -> str:
    """The client a per-IP limit counts: REMOTE_ADDR, an IPv6 one by its /64."""
    addr = (request.META.get("REMOTE_ADDR") or "").strip()
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return addr or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:1.2.3.4 is the IPv4 client 1.2.3.4
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class Counters:
    """The default cache, or this process's own memory while the default one fails.

    With REDIS_URL the default cache is Redis. When Redis is down a process keeps
    serving (PROTOCOL.md section 6); its limits then count per process, never not at all.
    """

    def __init__(self) -> None:
        self._local = LocMemCache("realtime-throttle-fallback", {})
        self._shared_after = 0.0

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() >= self._shared_after:
            try:
                return getattr(caches["default"], name)(*args, **kwargs)
            except (RedisError, OSError) as exc:
                self._shared_after = time.monotonic() + SHARED_RETRY_SECONDS
                log.warning("throttle cache unavailable, counting in process: %s", exc)
        return getattr(self._local, name)(*args, **kwargs)

    def get(self, key: str, default: Any = None) -> Any:
        return self._call("get", key, default)

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        return self._call("get_many", keys)

    def set(self, key: str, value: Any, timeout: float | None = None) -> None:
        self._call("set", key, value, timeout)

    def incr_window(self, key: str, timeout: int) -> int:
        """Add one to a counter that lives `timeout` seconds from its first count."""
        self._call("add", key, 0, timeout)
        try:
            return self._call("incr", key)
        except ValueError:  # expired between add and incr
            self._call("set", key, 1, timeout)
            return 1


counters = Counters()


# --- failed sign-ins ----------------------------------------------------------------------


class LoginThrottled(Throttled):
    """Too many failed sign-ins from this client or for this username: a 429."""

    default_detail = "Too many failed sign-ins."
    extra_detail_singular = "Try again in {wait} second."
    extra_detail_plural = "Try again in {wait} seconds."


def _username_key(username: str) -> str:
    # NFKC and casefold: "Alice", "ALICE" and "Ａｌｉｃｅ" are one account to guess at.
    normal = unicodedata.normalize("NFKC", username).strip().casefold()
    return hashlib.sha256(normal.encode()).hexdigest()[:32]


def _login_keys(request: Any, username: str | None) -> tuple[list[str], int, float]:
    """The counters of this attempt in the current window, its length, and its end."""
    limit = parse_rate(settings.LOGIN_THROTTLE)
    assert limit is not None
    _count, seconds = limit
    now = time.time()
    window = int(now // seconds)
    keys = []
    if request is not None:
        keys.append(f"login-fail:ip:{client_key(request)}:{window}")
    if username:
        keys.append(f"login-fail:user:{_username_key(username)}:{window}")
    return keys, seconds, (window + 1) * seconds - now


def login_check(request: Any, username: str | None) -> None:
    """Raise LoginThrottled when this client or username is past LOGIN_THROTTLE."""
    limit = parse_rate(settings.LOGIN_THROTTLE)
    if limit is None:
        return
    keys, _seconds, left = _login_keys(request, username)
    if keys and any(n >= limit[0] for n in counters.get_many(keys).values()):
        raise LoginThrottled(wait=max(1, math.ceil(left)))


def login_failure_record(request: Any, username: str | None) -> None:
    """Count one failed sign-in against the client and the username."""
    if parse_rate(settings.LOGIN_THROTTLE) is None:
        return
    keys, seconds, _left = _login_keys(request, username)
    for key in keys:
        counters.incr_window(key, seconds + 1)


class LoginThrottleFormMixin:
    """A sign-in form whose refusal for LOGIN_THROTTLE is a form error (and a 429)."""

    request: HttpRequest | None
    throttled: LoginThrottled | None = None

    def clean(self) -> Any:
        try:
            return super().clean()  # type: ignore[misc]
        except LoginThrottled as exc:
            self.throttled = exc
            if self.request is not None:
                self.request.login_throttled = exc  # type: ignore[attr-defined]
            raise ValidationError(str(exc.detail), code="throttled") from None


class LoginThrottleMiddleware(MiddlewareMixin):
    """A sign-in page re-rendered after a throttled attempt answers 429 with Retry-After."""

    def process_response(
        self, request: HttpRequest, response: HttpResponse
    ) -> HttpResponse:
        exc = getattr(request, "login_throttled", None)
        if exc is not None and response.status_code == 200:
            response.status_code = 429
            response["Retry-After"] = str(exc.wait)
        return response

    def process_exception(
        self, request: HttpRequest, exception: Exception
    ) -> HttpResponse | None:
        # A sign-in path without the form mixin still answers 429, never a 500.
        if isinstance(exception, LoginThrottled):
            response = JsonResponse(
                error_body(429, str(exception.detail), "throttled"), status=429
            )
            response["Retry-After"] = str(exception.wait)
            return response
        return None


# --- DRF throttles ------------------------------------------------------------------------


class ClientThrottleMixin:
    """DRF throttle parts: counters in the shared cache, the client by REMOTE_ADDR."""

    cache = counters

    def get_ident(self, request: Any) -> str:
        return client_key(request)


class AuthThrottle(ClientThrottleMixin, ScopedRateThrottle):
    """Per-IP rate of API_AUTH_THROTTLE on token, refresh, logout and register."""

    def get_rate(self) -> str | None:
        # Read per request, not from DRF's settings snapshot: empty turns it off.
        return settings.API_AUTH_THROTTLE or None


class WriteThrottle(ClientThrottleMixin, SimpleRateThrottle):
    """API_WRITE_THROTTLE: a user's REST writes (reads never count); empty turns it off."""

    scope = "write"

    def get_rate(self) -> str | None:
        # Read per request (DRF makes a throttle per request), like AuthThrottle's.
        return settings.API_WRITE_THROTTLE or None

    def allow_request(self, request: Any, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return super().allow_request(request, view)

    def get_cache_key(self, request: Any, view: Any) -> str:
        user = request.user
        ident = (
            f"user-{user.pk}"
            if user is not None and user.is_authenticated
            else self.get_ident(request)
        )
        return self.cache_format % {"scope": self.scope, "ident": ident}
