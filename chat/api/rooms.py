"""`/api/rooms/` and `/api/rooms/<slug>/`: the rooms a user may enter, and new rooms."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.throttling import WriteThrottle
from chat import selectors, services
from chat.api.common import (
    PAGE,
    ROOM_ERRORS,
    SLUG,
    SLUG_MAX,
    ChatUserSerializer,
    allowed_room,
    drf_error,
    paged,
)
from chat.models import Room
from chat.schemas import user_out
from realtime.web.rest import StrictSerializer, errors


class RoomSerializer(StrictSerializer):
    """A room as the API shows it."""

    slug = serializers.SlugField(max_length=SLUG_MAX)
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    is_private = serializers.BooleanField(required=False, default=False)
    owner = ChatUserSerializer(read_only=True, allow_null=True)
    created = serializers.DateTimeField(read_only=True)
    last_seq = serializers.IntegerField(read_only=True)


def room_out(room: Room) -> dict[str, Any]:
    """The API representation of a room."""
    owner = room.owner
    return {
        "slug": room.slug,
        "name": room.name,
        "is_private": room.is_private,
        "owner": user_out(owner.pk, owner.username) if owner is not None else None,
        "created": serializers.DateTimeField().to_representation(room.created),
        "last_seq": room.last_seq,
    }


class RoomListView(APIView):
    """`GET /api/rooms/` the rooms this user may enter; `POST` creates one."""

    throttle_classes = [
        WriteThrottle
    ]  # writes count (API_WRITE_THROTTLE), reads do not

    @extend_schema(
        operation_id="rooms_list",
        parameters=[PAGE],
        responses={
            200: paged("RoomPage", RoomSerializer(many=True)),
            **errors((404, "no such page")),
        },
    )
    def get(self, request: Request) -> Response:
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(
            selectors.rooms_for_user(user=request.user), request, view=self
        )
        return paginator.get_paginated_response([room_out(r) for r in page])

    @extend_schema(
        request=RoomSerializer,
        responses={
            201: RoomSerializer,
            **errors((400, "field errors; the slug is taken or malformed")),
        },
    )
    def post(self, request: Request) -> Response:
        data = RoomSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            room = services.room_create(
                slug=data.validated_data["slug"],
                name=data.validated_data.get("name", ""),
                is_private=data.validated_data.get("is_private", False),
                owner=request.user,
            )
        except DjangoValidationError as exc:
            raise drf_error(exc) from None
        return Response(room_out(room), status=status.HTTP_201_CREATED)


class RoomDetailView(APIView):
    """`GET /api/rooms/<slug>/`."""

    @extend_schema(
        parameters=[SLUG], responses={200: RoomSerializer, **errors(*ROOM_ERRORS)}
    )
    def get(self, request: Request, slug: str) -> Response:
        return Response(room_out(allowed_room(request, slug)))
