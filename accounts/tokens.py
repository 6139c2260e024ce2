"""JWTs that stop working when the user's credentials change.

Every token carries the user's `token_version` in the `ver` claim (a token without it,
issued before this claim existed, counts as version 0). A password change, a logout of
the web UI and a deactivation bump the version (accounts.services), so every token
issued before is refused: refresh tokens at refresh, access tokens on REST at once.

Why a version and not the blacklist alone: blacklisting each OutstandingToken row of
the user misses the tokens that have no row (every token issued before the blacklist app
was installed), and a token's `iat` has whole seconds only, too coarse to tell a token
issued just before a change from one issued just after. A counter is exact and costs
no query: the user row is read anyway. The blacklist still does what it is best at:
one token at a time (rotation, `POST /api/auth/logout/`).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken, Token

VERSION_CLAIM = "ver"


def token_for_user(user: Any) -> RefreshToken:
    """A new refresh token (and through it, its access token) for the user."""
    token = RefreshToken.for_user(user)
    token[VERSION_CLAIM] = user.token_version
    return token


def token_is_current(token: Token, user: Any) -> bool:
    """Whether the token was issued since the user's last credential change."""
    version = token.payload.get(VERSION_CLAIM, 0)
    return (
        user.is_active
        and isinstance(version, int)
        and version == getattr(user, "token_version", 0)
    )


def token_user(token: Token) -> Any | None:
    """The user a token names, or None when there is none (deleted, or a bad id)."""
    user_id = token.payload.get(api_settings.USER_ID_CLAIM)
    if user_id is None:
        return None
    try:
        return (
            get_user_model()
            ._default_manager.filter(**{api_settings.USER_ID_FIELD: user_id})
            .first()
        )
    except (ValueError, TypeError, OverflowError, ValidationError):
        return None


class JWTAuthentication(authentication.JWTAuthentication):
    """simplejwt's, also refusing an access token from before a credential change."""

    def get_user(self, validated_token: Token) -> Any:
        user = super().get_user(validated_token)
        if not token_is_current(validated_token, user):
            raise InvalidToken("Token was revoked by a credential change.")
        return user


class JWTScheme(SimpleJWTScheme):
    """The OpenAPI security scheme of JWTAuthentication: simplejwt's bearer JWT."""

    target_class = "accounts.tokens.JWTAuthentication"
