"""`/api/rooms/<slug>/messages/`: pages of a room's messages by seq, and posting one."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
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
from chat.errors import ChatError
from chat.schemas import CLIENT_ID_MAX, clean_body, message_frame
from realtime.web.errors import Conflict
from realtime.web.rest import INT64_MAX, QueryInteger, StrictSerializer, errors


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

    after = QueryInteger(
        min_value=0,
        max_value=INT64_MAX,
        required=False,
        help_text="only messages with seq above this",
    )
    before = QueryInteger(
        min_value=1,
        max_value=INT64_MAX,
        required=False,
        help_text="only messages with seq below this",
    )
    limit = QueryInteger(
        min_value=1,
        max_value=selectors.PAGE_LIMIT_MAX,
        required=False,
        help_text=f"page size, 1 to {selectors.PAGE_LIMIT_MAX} (default "
        f"{selectors.PAGE_LIMIT_DEFAULT}); more is a 400, never cut",
    )


#: the header alias of `client_id` (PROTOCOL.md section 11), as Stripe names it
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": CLIENT_ID_MAX},
    OpenApiParameter.HEADER,
    description="the body's `client_id`, as a header; when both are given they are "
    "equal",
)
REPLAYED = OpenApiParameter(
    "Idempotent-Replayed",
    {"type": "string", "enum": ["true"]},
    OpenApiParameter.HEADER,
    response=[200],
    description="this answer is the original message of a resend",
)


def client_id_of(request: Request, client_id: str | None) -> str | None:
    """The send's client_id: the body's, or the `Idempotency-Key` header, its alias."""
    header = request.headers.get("Idempotency-Key")
    if header is None:
        return client_id
    if not 1 <= len(header) <= CLIENT_ID_MAX or "\x00" in header:
        raise ValidationError(
            {"Idempotency-Key": [f"1 to {CLIENT_ID_MAX} characters, no NUL."]}
        )
    if client_id is not None and client_id != header:
        raise ValidationError(
            {"client_id": ["Differs from the Idempotency-Key header."]}
        )
    return header


class RoomMessagesView(APIView):
    """`GET` pages of a room's messages by seq; `POST` stores one and delivers it live."""

    throttle_classes = [
        WriteThrottle
    ]  # writes count (API_WRITE_THROTTLE), reads do not

    @extend_schema(
        operation_id="rooms_messages_list",
        parameters=[SLUG, MessagesQuery],
        responses={
            200: inline_serializer(
                "MessagePage",
                {
                    "results": MessageSerializer(many=True),
                    "has_more": serializers.BooleanField(),
                },
            ),
            **errors((400, "`invalid`: a bad after, before or limit"), *ROOM_ERRORS),
        },
    )
    def get(self, request: Request, slug: str) -> Response:
        room = allowed_room(request, slug)
        query = MessagesQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        results, more = selectors.messages_page(
            room=room,
            after=params.get("after"),
            before=params.get("before"),
            limit=params.get("limit", selectors.PAGE_LIMIT_DEFAULT),
        )
        return Response({"results": results, "has_more": more})

    @extend_schema(
        operation_id="rooms_messages_create",
        parameters=[SLUG, IDEMPOTENCY_KEY, REPLAYED],
        request=MessageSerializer,
        responses={
            201: OpenApiResponse(MessageSerializer, description="stored and delivered"),
            200: OpenApiResponse(
                MessageSerializer,
                description="a resend (the same client_id and body): the original, "
                "nothing stored, with Idempotent-Replayed: true",
            ),
            **errors(
                *ROOM_ERRORS,
                (
                    403,
                    "`permission_denied`: not on the room's whitelist, or the room "
                    "is archived (read-only)",
                ),
                (409, "`conflict`: the client_id was used for another body"),
            ),
        },
        examples=[
            OpenApiExample(
                "a message with its client_id",
                value={"body": "hello", "client_id": "c-7f3a"},
                request_only=True,
            ),
            OpenApiExample(
                "the message stored",
                value={
                    "type": "message",
                    "id": 42,
                    "seq": 7,
                    "room": "lobby",
                    "user": {"id": 3, "username": "alice"},
                    "body": "hello",
                    "ts": "2025-01-01T12:00:00.000000Z",
                    "client_id": "c-7f3a",
                },
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request: Request, slug: str) -> Response:
        room = allowed_room(request, slug)
        data = MessageSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data["body"]
        client_id = client_id_of(request, data.validated_data.get("client_id"))
        try:
            message, created = services.message_create(
                room=room, user=request.user, body=body, client_id=client_id
            )
        except ChatError as exc:
            raise exc.api_error() from None
        except DjangoValidationError as exc:
            raise drf_error(exc) from None
        frame = message_frame(message, room_slug=room.slug)
        if created:
            return Response(frame, status=status.HTTP_201_CREATED)
        if message.body != body:
            raise Conflict("This client_id was used for another message body.")
        # The same answer as the first time, marked as a replay (as Stripe does).
        return Response(
            frame, status=status.HTTP_200_OK, headers={"Idempotent-Replayed": "true"}
        )
