"""Writes about users: create them, and close every socket a user holds."""

from __future__ import annotations

from django.contrib.auth import get_user_model, password_validation
from django.db import transaction

from realtime.ws.broadcast import close_sockets
from realtime.ws.closecodes import CloseCode
from realtime.ws.consumer import user_topic


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
