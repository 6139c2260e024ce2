"""`/api/rooms/` and `/api/rooms/<slug>/`: the rooms a user may enter, and new rooms."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.throttling import WriteThrottle
from chat import selectors, services
from chat.api.common import (
    ROOM_ERRORS,
    SLUG,
    SLUG_MAX,
    ChatUserSerializer,
    allowed_room,
    drf_error,
)
from chat.errors import ChatError
from chat.models import Room
from chat.schemas import user_out
from realtime.web.rest import (
    ListPagination,
    ListQuery,
    StrictSerializer,
    errors,
    paged,
)


class RoomSerializer(StrictSerializer):
    """A room as the API shows it."""

    slug = serializers.SlugField(max_length=SLUG_MAX)
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    is_private = serializers.BooleanField(required=False, default=False)
    kind = serializers.ChoiceField(
        choices=["public", "private", "direct"],
        read_only=True,
        help_text="how users belong to it: public (join), private (whitelist), "
        "direct (its two users)",
    )
    owner = ChatUserSerializer(read_only=True, allow_null=True)
    created = serializers.DateTimeField(read_only=True)
    last_seq = serializers.IntegerField(read_only=True)
    topic = serializers.CharField(
        read_only=True, help_text="what the room is about, at most 250 characters"
    )
    archived = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="when it was archived (read-only: no new messages), or null",
    )


class RoomChangeSerializer(StrictSerializer):
    """`{name?, topic?, is_private?, archived?}`: what a room's owner may change (never
    the slug)."""

    name = serializers.CharField(max_length=100, required=False)
    topic = serializers.CharField(max_length=250, required=False, allow_blank=True)
    is_private = serializers.BooleanField(required=False)
    archived = serializers.BooleanField(
        required=False,
        help_text="true archives the room (read-only, the time is kept), false "
        "unarchives it",
    )


def room_out(room: Room) -> dict[str, Any]:
    """The API representation of a room."""
    owner = room.owner
    return {
        "slug": room.slug,
        "name": room.name,
        "is_private": room.is_private,
        "kind": room.kind,
        "owner": user_out(owner.pk, owner.username) if owner is not None else None,
        "created": serializers.DateTimeField().to_representation(room.created),
        "last_seq": room.last_seq,
        "topic": room.topic,
        "archived": serializers.DateTimeField().to_representation(room.archived)
        if room.archived is not None
        else None,
    }


class RoomListView(APIView):
    """`GET /api/rooms/` the rooms this user may enter; `POST` creates one."""

    throttle_classes = [
        WriteThrottle
    ]  # writes count (API_WRITE_THROTTLE), reads do not

    @extend_schema(
        operation_id="rooms_list",
        parameters=[ListQuery],
        responses={200: paged("RoomPage", RoomSerializer(many=True))},
    )
    def get(self, request: Request) -> Response:
        paginator = ListPagination()
        page = paginator.paginate_queryset(
            selectors.rooms_for_user(user=request.user), request, view=self
        )
        return paginator.get_paginated_response([room_out(r) for r in page])

    @extend_schema(
        operation_id="rooms_create",
        request=RoomSerializer,
        responses={
            201: RoomSerializer,
            **errors((400, "`invalid`: field errors; the slug is taken or malformed")),
        },
        examples=[
            OpenApiExample(
                "a private room",
                value={"slug": "team", "name": "Team", "is_private": True},
                request_only=True,
            ),
        ],
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
    """`GET /api/rooms/<slug>/`; `PATCH` (the owner) renames it, sets its topic, changes
    its privacy or archives it; `DELETE` (the owner or staff) deletes it with its
    messages."""

    throttle_classes = [WriteThrottle]  # PATCH and DELETE count, GET does not

    @extend_schema(
        operation_id="rooms_retrieve",
        parameters=[SLUG],
        responses={200: RoomSerializer, **errors(*ROOM_ERRORS)},
    )
    def get(self, request: Request, slug: str) -> Response:
        return Response(room_out(allowed_room(request, slug)))

    @extend_schema(
        operation_id="rooms_update",
        parameters=[SLUG],
        request=RoomChangeSerializer,
        responses={
            200: RoomSerializer,
            **errors(
                (400, "`invalid`: field errors"),
                (
                    403,
                    "`permission_denied`: not the room's owner (a direct room has "
                    "none: its settings are fixed)",
                ),
                (404, "`not_found`: no such room"),
            ),
        },
        examples=[
            OpenApiExample(
                "make it private", value={"is_private": True}, request_only=True
            ),
            OpenApiExample(
                "set the topic", value={"topic": "Release 2.0"}, request_only=True
            ),
            OpenApiExample("archive it", value={"archived": True}, request_only=True),
        ],
    )
    def patch(self, request: Request, slug: str) -> Response:
        room = allowed_room(request, slug)
        if room.owner_id is None or room.owner_id != request.user.pk:
            raise PermissionDenied("Only the room's owner changes it.")
        data = RoomChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            room = services.room_update(
                room=room,
                name=data.validated_data.get("name"),
                topic=data.validated_data.get("topic"),
                is_private=data.validated_data.get("is_private"),
                archived=data.validated_data.get("archived"),
            )
        except ChatError as exc:
            raise exc.api_error() from None
        except DjangoValidationError as exc:
            raise drf_error(exc) from None
        return Response(room_out(room))

    @extend_schema(
        operation_id="rooms_destroy",
        parameters=[SLUG],
        responses={
            204: OpenApiResponse(
                description="deleted with its messages; its sockets closed with 4404"
            ),
            **errors(
                (403, "`permission_denied`: neither the room's owner nor staff"),
                (404, "`not_found`: no such room"),
            ),
        },
    )
    def delete(self, request: Request, slug: str) -> Response:
        room = allowed_room(request, slug, staff_passes=True)
        if not request.user.is_staff and (
            room.owner_id is None or room.owner_id != request.user.pk
        ):
            raise PermissionDenied("Only the room's owner or staff delete it.")
        services.room_delete(room=room)
        return Response(status=status.HTTP_204_NO_CONTENT)
