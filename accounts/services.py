"""Writes about users: create them, take their credentials back, close their sockets."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.db import transaction
from django.db.models import F
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.tokens import token_is_current, token_user
from realtime.fanout.broadcast import close_sockets
from realtime.fanout.topics import user_topic
from realtime.socket.closecodes import CloseCode


@transaction.atomic
def user_create(*, username: str, password: str):
    """Create a user after Django's password validation (raises ValidationError)."""
    User = get_user_model()
    user = User(username=username)
    password_validation.validate_password(password, user)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    return user


def user_sockets_close(*, user_id: int, code: int = CloseCode.AUTH_EXPIRED) -> None:
    """Close every socket of the user, chat and notify, on every process (after commit)."""
    close_sockets(user_topic(user_id), code, user_id=user_id)


@transaction.atomic
def user_credentials_revoke(*, user_id: int, user: Any = None) -> None:
    """Take back everything the user signed in with: every JWT and every socket.

    Bumps the user's token_version, so every refresh and access token issued before is
    refused (accounts.tokens), and closes the user's sockets with 4401 after commit.
    `user`, when given, is the instance in hand: its token_version is brought up to date
    so a later save() of it does not write the old one back.
    """
    User = get_user_model()
    User._default_manager.filter(pk=user_id).update(
        token_version=F("token_version") + 1
    )
    if user is not None:
        user.token_version = (
            User._default_manager.filter(pk=user_id)
            .values_list("token_version", flat=True)
            .first()
        )
    user_sockets_close(user_id=user_id)


@transaction.atomic
def refresh_token_rotate(*, refresh: RefreshToken) -> dict[str, str]:
    """A new access token, and with rotation a new refresh token; the old one dies.

    Raises TokenError (a 401) when the token's user is gone or inactive, when it was
    issued before the user's last credential change, and when it was already used:
    blacklisting is the claim on it, so of two refreshes racing with one token only
    the first gets new tokens.
    """
    user = token_user(refresh)
    if user is None or not token_is_current(refresh, user):
        raise TokenError("Token is no longer valid.")
    data = {"access": str(refresh.access_token)}
    if api_settings.ROTATE_REFRESH_TOKENS:
        if api_settings.BLACKLIST_AFTER_ROTATION:
            _entry, created = refresh.blacklist()
            if not created:
                raise TokenError("Token is blacklisted")
        refresh.set_jti()
        refresh.set_exp()
        refresh.set_iat()
        refresh.outstand()
        data["refresh"] = str(refresh)
    return data


@transaction.atomic
def refresh_token_blacklist(*, refresh: RefreshToken) -> None:
    """Log one refresh token out: it never refreshes again."""
    refresh.blacklist()
