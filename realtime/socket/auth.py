"""Socket credentials: access JWTs through simplejwt's own validation, or the Django session."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import orjson
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken

from realtime.registry import sql
from realtime.socket.errors import SocketError


class BadCredentials(SocketError):
    """Credentials were presented and are not good: missing user, forged, expired, inactive."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who a socket is, and until when (None: a session, which does not expire in-band).

    A token's credentials come from its claims alone at the gate (`user` None, `claims`
    kept): the user row is loaded with the handshake's one trip to the database
    (realtime.socket.door), together with every other handshake waiting for it.
    """

    user: AbstractBaseUser | None
    method: str  # "token" or "session"
    exp: float | None
    user_id: Any = None
    claims: dict[str, Any] | None = None


def credentials_from_claims(claims: dict[str, Any]) -> Credentials:
    """A validated token's credentials, user not loaded yet (pure: no database)."""
    user_id = claims.get(api_settings.USER_ID_CLAIM)
    if user_id is None:
        raise BadCredentials("token names no user")
    model = get_user_model()
    try:
        key = model._meta.get_field(api_settings.USER_ID_FIELD).to_python(user_id)
    except (ValueError, TypeError, ValidationError):
        raise BadCredentials("no such user") from None
    if not isinstance(key, int) or not 0 < key < 2**63:
        raise BadCredentials("no such user")
    return Credentials(
        user=None, method="token", exp=float(claims["exp"]), user_id=key, claims=claims
    )


def users_for_credentials(
    pending: list[Credentials],
) -> list[Credentials | BadCredentials]:
    """Load the users of token credentials, one query for all (a sync call).

    Each answer is the credentials with their user, or why they are refused (no such
    user, inactive, a token from before the user's last credential change).
    """
    if not pending:
        return []
    model = get_user_model()
    fields = _socket_user_fields(model)
    ids = sorted({c.user_id for c in pending})
    pk = sql.column(model, api_settings.USER_ID_FIELD)
    rows = sql.fetchall(
        f"SELECT {sql.columns(model, fields)} FROM {sql.table(model)}"
        f" WHERE {pk} IN ({', '.join(['%s'] * len(ids))})",
        ids,
    )
    users = {u.pk: u for u in (sql.instance(model, fields, row) for row in rows)}
    answers: list[Credentials | BadCredentials] = []
    for creds in pending:
        user = users.get(creds.user_id)
        if user is None:
            answers.append(BadCredentials("no such user"))
        elif not user.is_active:
            answers.append(BadCredentials("inactive user"))
        elif not token_version_current(creds.claims or {}, user):
            answers.append(BadCredentials("token revoked by a credential change"))
        else:
            # The claims were for this check: an idle socket does not keep them.
            answers.append(replace(creds, user=user, claims=None))
    return answers


def validate_access_token(raw: str) -> dict[str, Any]:
    """The claims of a valid access token (not a refresh token), or BadCredentials.

    A token validated before is not decoded again while it lasts (validated_tokens):
    only the stateless checks are skipped. Revocation (the user's token_version, an
    inactive or deleted user) is checked against the user's row at every use.
    """
    if not raw or len(raw) > 4096:
        raise BadCredentials("malformed token")
    claims = validated_tokens.get(raw)
    if claims is not None:
        return claims
    claims = hs256_access_claims(raw)
    if claims is None:
        try:
            # Signature, algorithm allow-list, exp, token_type=access.
            token = AccessToken(raw)
        except TokenError as exc:
            raise BadCredentials(str(exc)) from None
        claims = dict(token.payload)
    validated_tokens.put(raw, claims)
    return claims


#: the claims this server's access tokens carry: a token with any other is left to
#: simplejwt (an `aud`, `nbf` or `sub` is checked there, or refused)
_FAST_CLAIMS = frozenset({"token_type", "exp", "iat", "jti", "ver"})


def hs256_access_claims(raw: str) -> dict[str, Any] | None:
    """The claims of `raw` when it is plainly a valid HS256 access token of this
    server; None when it is not plainly so, for simplejwt to decide.

    What simplejwt's AccessToken(raw) does for such a token (PyJWT's decode with the
    algorithm allow-list, then exp, jti and token_type), without its generality: a
    reconnect storm's handshakes each bring a token this process has not seen, and
    PyJWT's decode was a tenth of a surviving process's CPU. It only ever accepts: the
    header exactly {"alg": "HS256"(, "typ": "JWT")}, the signature by the signing key,
    no claim but the ones this server puts in, each of its type, `exp` not past (with
    the leeway), `iat` not ahead, `token_type` "access". Anything else, however
    harmless, goes to simplejwt, which accepts or refuses it as before.
    """
    backend = _fast_backend()
    if backend is None:
        return None
    head, _, rest = raw.partition(".")
    body, _, signature = rest.partition(".")
    if not head or not body or not signature or "." in signature:
        return None
    try:
        header = orjson.loads(_b64url(head))
        if header not in _HEADERS:
            return None
        expected = hmac.new(
            backend.prepared_signing_key, f"{head}.{body}".encode("ascii"), "sha256"
        ).digest()
        if not hmac.compare_digest(expected, _b64url(signature)):
            return None
        claims = orjson.loads(_b64url(body))
    except (ValueError, UnicodeError, binascii.Error):
        return None
    if not isinstance(claims, dict) or not set(claims) <= _fast_claims():
        return None
    now = time.time()
    leeway = backend.get_leeway().total_seconds()
    exp, iat = claims.get("exp"), claims.get("iat")
    if (
        claims.get(api_settings.TOKEN_TYPE_CLAIM) != AccessToken.token_type
        or not isinstance(claims.get(api_settings.JTI_CLAIM), str)
        or not _number(exp)
        or exp <= now - leeway
        or (iat is not None and (not _number(iat) or iat > now))
    ):
        return None
    return claims


_HEADERS = ({"alg": "HS256"}, {"alg": "HS256", "typ": "JWT"})


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _b64url(text: str) -> bytes:
    """Strict base64url, padding optional (what a JWT segment is); raises ValueError."""
    data = text.encode("ascii")
    if not _B64URL.fullmatch(data):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))


_B64URL = re.compile(rb"[A-Za-z0-9_-]*")


@functools.cache
def _fast_claims() -> frozenset[str]:
    return _FAST_CLAIMS | {
        api_settings.USER_ID_CLAIM,
        api_settings.TOKEN_TYPE_CLAIM,
        api_settings.JTI_CLAIM,
    }


def _fast_backend() -> Any | None:
    """simplejwt's token backend when its setup is plain HS256 (no audience, issuer or
    key set), else None: then every token goes through simplejwt."""
    from rest_framework_simplejwt.state import token_backend

    plain = (
        token_backend.algorithm == "HS256"
        and token_backend.audience is None
        and token_backend.issuer is None
        and getattr(token_backend, "jwks_client", None) is None
        and isinstance(token_backend.prepared_signing_key, bytes)
    )
    return token_backend if plain else None


class TokenCache:
    """Access tokens that passed simplejwt's validation, so that a client coming back
    with the same token is not decoded again (a reconnect storm: every client at once).

    Decoding is about 55 us a token, 2.5% of the server's CPU in a handshake storm.
    Only the token's signature, type and claims are vouched for, which never change
    for a given string, and its `exp`, checked again at every hit with the decoder's
    rule (expired when exp <= now - LEEWAY). Refused tokens are never kept. The
    oldest entry goes when `size` are held, and expired ones as they reach the front.

    Compact on purpose, as every open socket's token is in it (the capacity target is
    25 KB a socket): the key is the token's SHA-256 (32 bytes, not its 250-character
    string; no two tokens share one), the claims a tuple of values beside their names'
    tuple, shared by every token of one shape: about 0.5 KB an entry, against 1.2 KB
    for the string and a dict. One event loop uses it (no lock).
    """

    def __init__(self, size: int, *, clock: Callable[[], float] = time.time) -> None:
        self.size = size
        self.clock = clock  # epoch seconds, as `exp`
        #: sha256(token) -> (exp, claim names, claim values), oldest first
        self._entries: dict[bytes, tuple[Any, tuple[str, ...], tuple[Any, ...]]] = {}
        self._shapes: dict[tuple[str, ...], tuple[str, ...]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, raw: str) -> dict[str, Any] | None:
        """The claims of `raw` if it was validated and has not expired since."""
        key = _token_key(raw)
        entry = self._entries.get(key)
        if entry is None:
            return None
        exp, names, values = entry
        if self._expired(exp):
            self._entries.pop(key, None)
            return None
        return dict(zip(names, values, strict=True))

    def put(self, raw: str, claims: dict[str, Any]) -> None:
        """Keep the claims of `raw`, which just passed validation."""
        entries = self._entries
        for _ in range(2):  # a little at a time: tokens mostly expire in the order made
            oldest = next(iter(entries), None)
            if oldest is None or not self._expired(entries[oldest][0]):
                break
            del entries[oldest]
        while entries and len(entries) >= self.size:
            del entries[next(iter(entries))]
        names = tuple(claims)
        if len(self._shapes) < 16:  # this server's tokens have one or two shapes
            names = self._shapes.setdefault(names, names)
        entries[_token_key(raw)] = (claims["exp"], names, tuple(claims.values()))

    def clear(self) -> None:
        """Forget every token (tests)."""
        self._entries.clear()

    def _expired(self, exp: Any) -> bool:
        """simplejwt's expiry rule for a validated token's `exp` (an epoch time)."""
        from rest_framework_simplejwt.state import token_backend  # reads settings

        return float(exp) <= self.clock() - token_backend.get_leeway().total_seconds()


def _token_key(raw: str) -> bytes:
    return hashlib.sha256(raw.encode()).digest()


#: the process's validated access tokens: as many as its sockets at the default
#: WS_MAX_CONNECTIONS (20,000)
validated_tokens = TokenCache(20_000)


def user_for_claims(claims: dict[str, Any]) -> AbstractBaseUser:
    """The active user a validated token names (a sync call: it reads the database).

    The handshake's batched load (users_for_credentials) for one token: the same
    checks (the id's shape, the user active, the token's `ver` current).
    """
    (answer,) = users_for_credentials([credentials_from_claims(claims)])
    if isinstance(answer, BadCredentials):
        raise answer
    assert answer.user is not None
    return answer.user


#: A user model with this field revokes every token issued before it changed: the
#: token's VERSION_CLAIM must equal it (a token without the claim counts as version 0).
VERSION_FIELD = "token_version"
VERSION_CLAIM = "ver"


def token_version_current(claims: dict[str, Any], user: Any) -> bool:
    """Whether a token was issued since the user's last credential change."""
    if not _has_field(type(user), VERSION_FIELD):
        return True
    version = claims.get(VERSION_CLAIM, 0)
    return isinstance(version, int) and version == getattr(user, VERSION_FIELD)


@functools.cache
def _has_field(model: Any, name: str) -> bool:
    return any(f.name == name for f in model._meta.concrete_fields)


def _socket_user_fields(model: Any) -> tuple[str, ...]:
    names = [model._meta.pk.name, model.USERNAME_FIELD, "is_active"]
    if _has_field(model, VERSION_FIELD):
        names.append(VERSION_FIELD)
    return tuple(dict.fromkeys(names))


def credentials_from_token(raw: str) -> Credentials:
    """Validate `raw` and load its user (sync)."""
    claims = validate_access_token(raw)
    user = user_for_claims(claims)
    return Credentials(
        user=user, method="token", exp=float(claims["exp"]), user_id=user.pk
    )
