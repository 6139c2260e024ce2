"""`/api/rooms/<slug>/members/`: the whitelist, read by members, changed by the owner."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.throttling import WriteThrottle
from chat import selectors, services
from chat.api.common import (
    SLUG,
    ChatUserSerializer,
    allowed_room,
    drf_error,
    users_out,
)
from chat.models import Room
from chat.schemas import user_out
from realtime.web.rest import (
    BodyOnDeleteSchema,
    ListPagination,
    ListQuery,
    StrictSerializer,
    errors,
    paged,
)


class UsernameSerializer(StrictSerializer):
    """`{username}` of a whitelist change."""

    username = serializers.CharField(max_length=150)


class RoomMembersView(APIView):
    """The whitelist: members read it, the owner adds (`POST`) and removes (`DELETE`)."""

    schema = BodyOnDeleteSchema()  # DELETE takes `{username}`, as POST does
    throttle_classes = [
        WriteThrottle
    ]  # writes count (API_WRITE_THROTTLE), reads do not

    @staticmethod
    def listed_room(request: Request, slug: str) -> Room:
        room = allowed_room(request, slug)
        if room.kind == Room.Kind.DIRECT:
            raise PermissionDenied("A direct room's two users are fixed.")
        return room

    def owned_room(self, request: Request, slug: str) -> Room:
        room = self.listed_room(request, slug)
        if room.owner_id != request.user.pk:
            raise PermissionDenied("Only the room's owner manages its whitelist.")
        return room

    @staticmethod
    def named_user(request: Request) -> Any:
        # DELETE bodies are dropped by some clients: `?username=` works too, alone.
        body = request.data
        if "username" in request.query_params:
            if request.stream is not None:  # a body was sent, even an empty one
                raise ValidationError(
                    {"username": ["Name the user in the body or the query, not both."]}
                )
            body = {"username": request.query_params["username"]}
        data = UsernameSerializer(data=body)
        data.is_valid(raise_exception=True)
        user = (
            get_user_model()
            .objects.filter(username=data.validated_data["username"])
            .first()
        )
        if user is None:
            raise ValidationError({"username": ["No such user."]})
        return user

    @extend_schema(
        operation_id="rooms_members_list",
        parameters=[SLUG, ListQuery],
        responses={
            200: paged("MemberPage", ChatUserSerializer(many=True)),
            **errors(
                (403, "`permission_denied`: not on the whitelist; a direct room"),
                (404, "`not_found`: no such room"),
            ),
        },
    )
    def get(self, request: Request, slug: str) -> Response:
        room = self.listed_room(request, slug)
        paginator = ListPagination()
        page = paginator.paginate_queryset(
            selectors.room_members(room=room), request, view=self
        )
        return paginator.get_paginated_response(users_out(page))

    @extend_schema(
        operation_id="rooms_members_add",
        parameters=[SLUG],
        request=UsernameSerializer,
        responses={
            201: OpenApiResponse(ChatUserSerializer, description="added"),
            200: OpenApiResponse(ChatUserSerializer, description="already a member"),
            **errors(
                (400, "field errors; no such user"),
                (403, "not the room's owner; a direct room"),
                (404, "no such room"),
            ),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        room = self.owned_room(request, slug)
        user = self.named_user(request)
        _membership, created = services.membership_grant(room=room, user=user)
        return Response(
            user_out(user.pk, user.username),
            status=201 if created else status.HTTP_200_OK,
        )

    @extend_schema(
        operation_id="rooms_members_remove",
        parameters=[
            SLUG,
            OpenApiParameter(
                "username",
                {"type": "string", "minLength": 1, "maxLength": 150},
                description="who leaves the whitelist, for clients that send no "
                "body with a DELETE (not both: that is a 400)",
            ),
        ],
        request=UsernameSerializer,
        responses={
            204: OpenApiResponse(description="removed, and their sockets closed"),
            **errors(
                (400, "no such user; the owner stays"),
                (403, "not the room's owner; a direct room"),
                (404, "no such room"),
            ),
        },
    )
    def delete(self, request: Request, slug: str) -> Response:
        room = self.owned_room(request, slug)
        user = self.named_user(request)
        try:
            # Idempotent: a user not on the whitelist is still kicked from the room.
            services.membership_revoke(room=room, user=user)
        except DjangoValidationError as exc:
            raise drf_error(exc) from None
        return Response(status=status.HTTP_204_NO_CONTENT)
