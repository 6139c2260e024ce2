"""Lookups the chat commands share: a room or a user by name, or a CommandError."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from chat import selectors
from chat.models import Room


def room_or_error(slug: str) -> Room:
    room = selectors.room_get(slug=slug)
    if room is None:
        raise CommandError(f"no such room: {slug}")
    return room


def user_or_error(username: str) -> Any:
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"no such user: {username}")
    return user
