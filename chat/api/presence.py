"""`/api/rooms/<slug>/presence/`: who is online in a room now."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import selectors
from chat.api.common import (
    PAGE,
    ROOM_ERRORS,
    SLUG,
    ChatUserSerializer,
    allowed_room,
    paged,
    users_out,
)
from realtime.web.rest import errors


class RoomPresenceView(APIView):
    """`GET /api/rooms/<slug>/presence/`: the users online in the room now, paginated."""

    @extend_schema(
        parameters=[SLUG, PAGE],
        responses={
            200: paged("PresencePage", ChatUserSerializer(many=True)),
            **errors(*ROOM_ERRORS),
        },
    )
    def get(self, request: Request, slug: str) -> Response:
        room = allowed_room(request, slug)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(
            selectors.online_users(room_slug=room.slug), request, view=self
        )
        return paginator.get_paginated_response(users_out(page))
