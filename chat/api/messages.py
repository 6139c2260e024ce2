"""`/api/rooms/<slug>/messages/`: pages of a room's messages by seq, and posting one."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
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
from chat.errors import ChatError
from chat.schemas import CLIENT_ID_MAX, clean_body, message_frame
from realtime.web.rest import INT64_MAX, StrictSerializer, errors


class MessageSerializer(StrictSerializer):
    """A message: the same object as the socket's `message` frame."""

    type = serializers.CharField(read_only=True, default="message")
    id = serializers.IntegerField(read_only=True)
    seq = serializers.IntegerField(read_only=True)
    room = serializers.CharField(read_only=True)
    user = ChatUserSerializer(read_only=True)
    # Some non-space character (the body is trimmed), at most WS_MAX_BODY_CHARS of them.
    body = serializers.RegexField(r"\S", max_length=settings.WS_MAX_BODY_CHARS)
    ts = serializers.CharField(read_only=True)
    # Opaque, as on the socket: never trimmed.
    client_id = serializers.CharField(
        max_length=CLIENT_ID_MAX,
        required=False,
        allow_null=True,
        min_length=1,
        trim_whitespace=False,
    )

    def validate_body(self, value: str) -> str:
        try:
            return clean_body(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None

    def validate_client_id(self, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValidationError("client_id contains a NUL character")
        return value


class MessagesQuery(serializers.Serializer):
    """`?after=&before=&limit=` of the message list (a seq is a 64-bit column)."""

    after = serializers.IntegerField(
        min_value=0,
        max_value=INT64_MAX,
        required=False,
        help_text="only messages with seq above this",
    )
    before = serializers.IntegerField(
        min_value=1,
        max_value=INT64_MAX,
        required=False,
        help_text="only messages with seq below this",
    )
    limit = serializers.IntegerField(
        min_value=1,
        max_value=INT64_MAX,
        required=False,
        help_text=f"page size (default {selectors.PAGE_LIMIT_DEFAULT}); "
        f"more than {selectors.PAGE_LIMIT_MAX} gives {selectors.PAGE_LIMIT_MAX}",
    )


class RoomMessagesView(APIView):
    """`GET` pages of a room's messages by seq; `POST` stores one and delivers it live."""

    throttle_classes = [
        WriteThrottle
    ]  # writes count (API_WRITE_THROTTLE), reads do not

    @extend_schema(
        parameters=[SLUG, MessagesQuery],
        responses={
            200: inline_serializer(
                "MessagePage",
                {
                    "results": MessageSerializer(many=True),
                    "has_more": serializers.BooleanField(),
                },
            ),
            **errors((400, "a bad after, before or limit"), *ROOM_ERRORS),
        },
    )
    def get(self, request: Request, slug: str) -> Response:
        room = allowed_room(request, slug)
        query = MessagesQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        limit = min(
            params.get("limit", selectors.PAGE_LIMIT_DEFAULT), selectors.PAGE_LIMIT_MAX
        )
        results, more = selectors.messages_page(
            room=room,
            after=params.get("after"),
            before=params.get("before"),
            limit=limit,
        )
        return Response({"results": results, "has_more": more})

    @extend_schema(
        parameters=[SLUG],
        request=MessageSerializer,
        responses={
            201: OpenApiResponse(
                MessageSerializer,
                description="stored and delivered; a resend of a known client_id "
                "answers the original, with the header Idempotent-Replayed: true",
            ),
            **errors(*ROOM_ERRORS),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        room = allowed_room(request, slug)
        data = MessageSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            message, created = services.message_create(
                room=room,
                user=request.user,
                body=data.validated_data["body"],
                client_id=data.validated_data.get("client_id"),
            )
        except ChatError as exc:
            raise exc.api_error() from None
        except DjangoValidationError as exc:
            raise drf_error(exc) from None
        response = Response(message_frame(message, room_slug=room.slug), status=201)
        if not created:
            # The same answer as the first time, marked as a replay (as Stripe does).
            response["Idempotent-Replayed"] = "true"
        return response
