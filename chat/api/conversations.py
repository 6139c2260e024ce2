"""Conversations on REST (PROTOCOL.md 9): direct rooms, join and leave, my rooms, reads."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.throttling import WriteThrottle
from chat import selectors, services
from chat.api.common import (
    ROOM_ERRORS,
    SLUG,
    ChatUserSerializer,
    allowed_room,
    drf_error,
)
from chat.api.messages import MessageSerializer
from chat.api.rooms import RoomSerializer, room_out
from chat.errors import ChatError
from realtime.web.rest import (
    ListPagination,
    ListQuery,
    StrictSerializer,
    errors,
    paged,
)

#: the highest seq a client may name (PostgreSQL's bigint)
SEQ_MAX = 2**63 - 1


class DirectSerializer(StrictSerializer):
    """`{username}`: the other user of a direct room."""

    username = serializers.CharField(max_length=150)


class ReadSerializer(StrictSerializer):
    """`{seq}`: the user has read the room up to this seq."""

    seq = serializers.IntegerField(min_value=0, max_value=SEQ_MAX)


class ReadStateSerializer(serializers.Serializer):
    """The read pointer after a move: the same fields as the `read` frame."""

    room = serializers.CharField()
    seq = serializers.IntegerField(min_value=0)
    unread = serializers.IntegerField(min_value=0)


class MyRoomSerializer(serializers.Serializer):
    """One entry of `GET /api/me/rooms/` (and of the notify welcome's `rooms`)."""

    slug = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["public", "private", "direct"])
    peer = ChatUserSerializer(allow_null=True)
    last_seq = serializers.IntegerField(min_value=0)
    last_read_seq = serializers.IntegerField(min_value=0)
    unread = serializers.IntegerField(min_value=0)
    mentions = serializers.IntegerField(min_value=0)
    last_message = MessageSerializer(allow_null=True)


class DirectRoomView(APIView):
    """`POST /api/dms/ {username}`: the direct room of this user and another."""

    throttle_classes = [WriteThrottle]

    @extend_schema(
        operation_id="dms_create",
        request=DirectSerializer,
        responses={
            201: OpenApiResponse(RoomSerializer, description="a new direct room"),
            200: OpenApiResponse(RoomSerializer, description="the pair's room"),
            **errors((400, "`invalid`: no such user, or yourself")),
        },
        examples=[
            OpenApiExample("with bob", value={"username": "bob"}, request_only=True)
        ],
    )
    def post(self, request: Request) -> Response:
        data = DirectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user_model = get_user_model()
        other = user_model.objects.filter(
            **{user_model.USERNAME_FIELD: data.validated_data["username"]},
            is_active=True,
        ).first()
        if other is None:
            raise ValidationError({"username": ["No such user."]})
        try:
            room, created = services.direct_room_get_or_create(
                user=request.user, other=other
            )
        except DjangoValidationError as exc:
            raise drf_error(exc) from None
        return Response(
            room_out(room), status=status.HTTP_201_CREATED if created else 200
        )


class RoomJoinView(APIView):
    """`POST /api/rooms/<slug>/join/`: belong to a public room."""

    throttle_classes = [WriteThrottle]
    leave = False

    @extend_schema(
        parameters=[SLUG],
        request=None,
        responses={
            204: OpenApiResponse(description="done (also when it already was)"),
            **errors(
                (
                    403,
                    "`permission_denied`: not on the whitelist, or the room is "
                    "not public (private and direct rooms belong by their whitelist)",
                ),
                (404, "`not_found`: no such room"),
            ),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        room = allowed_room(request, slug)
        try:
            (services.room_leave if self.leave else services.room_join)(
                room=room, user=request.user
            )
        except ChatError as exc:
            raise exc.api_error() from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class RoomLeaveView(RoomJoinView):
    """`POST /api/rooms/<slug>/leave/`: stop belonging to a public room."""

    leave = True


class RoomReadView(APIView):
    """`POST /api/rooms/<slug>/read/ {seq}`: move the read pointer forward."""

    @extend_schema(
        operation_id="rooms_read",
        parameters=[SLUG],
        request=ReadSerializer,
        responses={
            200: OpenApiResponse(
                ReadStateSerializer,
                description="the pointer after the call: it only moves forward and "
                "stops at the room's last seq, so it may be less than `seq`, or stay",
            ),
            **errors((400, "`invalid`: `seq` is not an integer >= 0"), *ROOM_ERRORS),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        room = allowed_room(request, slug)
        data = ReadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        seq, unread = services.read_pointer_move(
            room=room, user=request.user, seq=data.validated_data["seq"]
        )
        return Response({"room": room.slug, "seq": seq, "unread": unread})


class MyRoomsView(APIView):
    """`GET /api/me/rooms/`: the rooms I belong to, latest activity first, with counts."""

    @extend_schema(
        operation_id="me_rooms_list",
        parameters=[ListQuery],
        responses={200: paged("MyRoomPage", MyRoomSerializer(many=True))},
    )
    def get(self, request: Request) -> Response:
        paginator = ListPagination()
        page = paginator.paginate_queryset(
            selectors.my_rooms(user=request.user), request, view=self
        )
        return paginator.get_paginated_response(page)
