"""REST calls the client needs: sign in, refresh, backfill. urllib, in a thread.

`Auth` holds a user's access and refresh tokens and refreshes them one call at a time;
refresh tokens rotate (the server blacklists the one just used), so each refresh keeps
the new refresh token, and `on_tokens` lets the application store it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from realtime_client.errors import AuthError, HttpError, RealtimeError

#: seconds any one REST call may take
HTTP_TIMEOUT = 20.0


def http_base(url: str) -> str:
    """The http(s) origin of an http(s) or ws(s) URL: where the REST API lives."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) or ws(s) URL: {url!r}")
    return urlunsplit((scheme, parts.netloc, "", "", ""))


def ws_base(url: str) -> str:
    """The ws(s) origin of an http(s) or ws(s) URL: where the sockets live."""
    parts = urlsplit(http_base(url))
    return urlunsplit(
        ("wss" if parts.scheme == "https" else "ws", parts.netloc, "", "", "")
    )


def jwt_claims(token: str | None) -> dict[str, Any]:
    """The payload of a JWT, unverified, or {} for anything else.

    Read only to schedule a refresh and to find the user's id: the server verifies the
    token, never this code.
    """
    if not isinstance(token, str) or token.count(".") != 2:
        return {}
    part = token.split(".")[1]
    try:
        payload = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, binascii.Error):
        return {}
    return payload if isinstance(payload, dict) else {}


def jwt_exp(token: str | None) -> float | None:
    """The `exp` claim (epoch seconds) of a JWT, or None when it has none."""
    exp = jwt_claims(token).get("exp")
    return (
        float(exp)
        if isinstance(exp, int | float) and not isinstance(exp, bool)
        else None
    )


def request_json(
    method: str,
    url: str,
    body: Any = None,
    *,
    token: str | None = None,
    timeout: float = HTTP_TIMEOUT,
) -> tuple[int, Any]:
    """(status, decoded JSON or None) of one blocking request; OSError when unreachable."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None


async def arequest_json(
    method: str, url: str, body: Any = None, *, token: str | None = None
) -> tuple[int, Any]:
    """request_json() in a worker thread."""
    return await asyncio.to_thread(request_json, method, url, body, token=token)


TokensCallback = Callable[[str, str | None], None]


class Auth:
    """A user's JWTs for one server: the access token, refreshed before it expires."""

    def __init__(
        self,
        base_url: str,
        *,
        access: str,
        refresh: str | None = None,
        on_tokens: TokensCallback | None = None,
    ) -> None:
        self.base_url = http_base(base_url)
        self._access = access
        self._refresh = refresh
        self._on_tokens = on_tokens
        self._refreshing: asyncio.Task[str] | None = None

    @classmethod
    async def login(
        cls,
        base_url: str,
        username: str,
        password: str,
        *,
        on_tokens: TokensCallback | None = None,
    ) -> Auth:
        """Sign in with `POST /api/auth/token/`; AuthError on bad credentials."""
        base = http_base(base_url)
        status, body = await arequest_json(
            "POST",
            f"{base}/api/auth/token/",
            {"username": username, "password": password},
        )
        if status != 200 or not isinstance(body, dict) or "access" not in body:
            raise (AuthError if status in (400, 401) else HttpError)(
                status, body, "sign-in refused"
            )
        return cls(
            base,
            access=body["access"],
            refresh=body.get("refresh"),
            on_tokens=on_tokens,
        )

    @property
    def access(self) -> str:
        """The current access token."""
        return self._access

    @property
    def refresh_token(self) -> str | None:
        """The current refresh token (it changes at every refresh)."""
        return self._refresh

    @property
    def can_refresh(self) -> bool:
        """Whether a refresh token is held."""
        return bool(self._refresh)

    @property
    def user_id(self) -> int | None:
        """The user's id, from the access token's `user_id` claim."""
        value = jwt_claims(self._access).get("user_id")
        if isinstance(value, str) and value.isdigit():
            return int(value)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def expired(self, now: float | None = None, margin: float = 5.0) -> bool:
        """Whether the access token's `exp` is past (or within `margin` seconds)."""
        exp = jwt_exp(self._access)
        return exp is not None and exp - margin <= (time.time() if now is None else now)

    async def refresh(self) -> str:
        """A fresh access token from `POST /api/auth/token/refresh/`; one call at a time.

        AuthError when the refresh token is refused (used, revoked, expired: sign in
        again); HttpError or OSError when the server is unreachable or failing (try
        later).
        """
        if self._refreshing is None:
            self._refreshing = asyncio.ensure_future(self._refresh_once())
            self._refreshing.add_done_callback(self._refresh_done)
        return await asyncio.shield(self._refreshing)

    def _refresh_done(self, task: asyncio.Task[str]) -> None:
        self._refreshing = None
        if not task.cancelled():
            task.exception()  # retrieved: a failed refresh nobody awaited is not logged

    async def _refresh_once(self) -> str:
        if not self._refresh:
            raise RealtimeError("no refresh token", code="no_refresh")
        used = self._refresh
        status, body = await arequest_json(
            "POST", f"{self.base_url}/api/auth/token/refresh/", {"refresh": used}
        )
        if status in (400, 401):
            raise AuthError(status, body, "token refresh refused")
        if status != 200 or not isinstance(body, dict):
            raise HttpError(status, body, "token refresh failed")
        access = body.get("access")
        if not isinstance(access, str) or not access:
            raise HttpError(status, body, "token refresh answered no access token")
        self._access = access
        # Rotation: the refresh token just used is blacklisted; keep the new one.
        new_refresh = body.get("refresh")
        if isinstance(new_refresh, str) and new_refresh:
            self._refresh = new_refresh
        if self._on_tokens is not None:
            self._on_tokens(self._access, self._refresh)
        return access

    async def request(
        self, method: str, path: str, body: Any = None
    ) -> tuple[int, Any]:
        """(status, JSON) of a REST call with the access token (refreshed once on 401)."""
        url = self.base_url + path
        status, data = await arequest_json(method, url, body, token=self._access)
        if status == 401 and self.can_refresh:
            await self.refresh()
            status, data = await arequest_json(method, url, body, token=self._access)
        return status, data
