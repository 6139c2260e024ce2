"""`/api/rooms/<slug>/presence/`: who is online in a room now."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import selectors
from chat.api.common import (
    ROOM_ERRORS,
    SLUG,
    ChatUserSerializer,
    allowed_room,
    users_out,
)
from realtime.web.rest import ListPagination, ListQuery, errors, paged


class RoomPresenceView(APIView):
    """`GET /api/rooms/<slug>/presence/`: the users online in the room now, a list page."""

    @extend_schema(
        operation_id="rooms_presence_list",
        parameters=[SLUG, ListQuery],
        responses={
            200: paged("PresencePage", ChatUserSerializer(many=True)),
            **errors(*ROOM_ERRORS),
        },
    )
    def get(self, request: Request, slug: str) -> Response:
        room = allowed_room(request, slug)
        paginator = ListPagination()
        page = paginator.paginate_queryset(
            selectors.online_users(room_slug=room.slug), request, view=self
        )
        return paginator.get_paginated_response(users_out(page))
