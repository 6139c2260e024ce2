"""Socket credentials: access JWTs through simplejwt's own validation, or the Django session."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any

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
    """The claims of a valid access token (not a refresh token), or BadCredentials."""
    if not raw or len(raw) > 4096:
        raise BadCredentials("malformed token")
    try:
        # Signature, algorithm allow-list, exp, token_type=access.
        token = AccessToken(raw)
    except TokenError as exc:
        raise BadCredentials(str(exc)) from None
    return dict(token.payload)


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
