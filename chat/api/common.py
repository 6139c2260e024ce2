"""Shared by the chat resources: the user object, the room lookup, parameters, errors."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import slug_re
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from chat import selectors
from chat.errors import NotAllowed, RoomGone
from chat.models import Room
from chat.schemas import user_out

SLUG_MAX = 64


class ChatUserSerializer(serializers.Serializer):
    """The protocol's user object."""

    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)


#: the `<slug>` of every room path: what a room's slug can be
SLUG = OpenApiParameter(
    "slug",
    {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$", "maxLength": SLUG_MAX},
    OpenApiParameter.PATH,
    required=True,
)
#: what every room path can answer besides its own errors
ROOM_ERRORS = (
    (403, "`permission_denied`: not on the room's whitelist"),
    (404, "`not_found`: no such room"),
)


def users_out(users: Any) -> list[dict[str, Any]]:
    return [user_out(u.pk, u.username) for u in users]


def allowed_room(request: Request, slug: str, *, staff_passes: bool = False) -> Room:
    """The room, if this user may enter it: 404 no such room, 403 not whitelisted.

    `staff_passes`: staff reach it whatever its whitelist (to delete it, say).
    """
    if len(slug) > SLUG_MAX or not slug_re.match(slug):
        # No room has it, and a NUL in it would fail the query on PostgreSQL.
        raise RoomGone.api_error()
    access = selectors.room_access(slug=slug, user=request.user)
    if access.room is None:
        raise RoomGone.api_error()
    if not access.allowed and not (staff_passes and request.user.is_staff):
        raise NotAllowed.api_error()
    return access.room


def drf_error(exc: DjangoValidationError) -> ValidationError:
    """A service's ValidationError as DRF field errors (a 400, always an object)."""
    return ValidationError(
        exc.message_dict
        if hasattr(exc, "error_dict")
        else {"non_field_errors": exc.messages}
    )
