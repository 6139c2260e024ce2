"""`/api/rooms/<slug>/messages/`: pages of a room's messages by seq, posting one, and
each message's edits, delete, versions and reactions; `/api/rooms/<slug>/changes/`."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
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
from chat.errors import ChatError, MessageGone, NotPermitted
from chat.schemas import (
    CLIENT_ID_MAX,
    EMOJI_MAX,
    clean_body,
    clean_emoji,
    message_frame,
)
from realtime.web.errors import Conflict
from realtime.web.rest import INT64_MAX, QueryInteger, StrictSerializer, errors


class ReactionSerializer(serializers.Serializer):
    """One emoji on a message: how many put it there, and at most 100 of them."""

    emoji = serializers.CharField(read_only=True)
    count = serializers.IntegerField(read_only=True)
    users = serializers.ListField(child=serializers.IntegerField(), read_only=True)


class ReplySerializer(serializers.Serializer):
    """The message a message answers."""

    id = serializers.IntegerField(read_only=True)
    seq = serializers.IntegerField(read_only=True)
    user = ChatUserSerializer(read_only=True)
    preview = serializers.CharField(read_only=True)


class ReplyToField(serializers.IntegerField):
    """`reply_to`: written as the answered message's id, read as its ReplySerializer
    object (or null). The view answers with frames, so this only parses the id."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            min_value=1, max_value=INT64_MAX, required=False, allow_null=True, **kwargs
        )


class ReplyToFieldSchema(OpenApiSerializerFieldExtension):
    """In a request, an integer id; in a response, the answered message or null."""

    target_class = ReplyToField

    def map_serializer_field(self, auto_schema: Any, direction: str) -> Any:
        if direction == "request":
            return {
                "type": "integer",
                "minimum": 1,
                "maximum": INT64_MAX,
                "nullable": True,
                "description": "the id of the message this one answers (same room)",
            }
        component = auto_schema.resolve_serializer(ReplySerializer, direction)
        return {"allOf": [component.ref], "nullable": True}


def _not_blank(value: str) -> None:
    if not value.strip():
        raise serializers.ValidationError("This field may not be blank.")


class BodyField(serializers.CharField):
    """`body`: written, some non-space character (the body is trimmed), at most
    WS_MAX_BODY_CHARS; read, also "" (a deleted message is a tombstone). The check is
    a plain validator, not a RegexValidator, so the schema's pattern is the request's
    only (BodyFieldSchema)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            max_length=settings.WS_MAX_BODY_CHARS,
            validators=[_not_blank],
            **kwargs,
        )


class BodyFieldSchema(OpenApiSerializerFieldExtension):
    """In a request, a pattern that needs a non-space character; in a response, any
    string up to the limit ("" for a tombstone)."""

    target_class = BodyField

    def map_serializer_field(self, auto_schema: Any, direction: str) -> Any:
        schema = {"type": "string", "maxLength": settings.WS_MAX_BODY_CHARS}
        if direction == "request":
            return {**schema, "pattern": r"\S"}
        return {**schema, "description": '"" when the message is deleted'}


class MessageSerializer(StrictSerializer):
    """A message: the same object as the socket's `message` frame.

    Posting one, `reply_to` is the id of the message it answers; read, it is that
    message's `{id, seq, user, preview}` or null.
    """

    type = serializers.CharField(read_only=True, default="message")
    id = serializers.IntegerField(read_only=True)
    seq = serializers.IntegerField(read_only=True)
    room = serializers.CharField(read_only=True)
    user = ChatUserSerializer(read_only=True)
    body = BodyField()
    ts = serializers.CharField(read_only=True)
    # Opaque, as on the socket: never trimmed.
    client_id = serializers.CharField(
        max_length=CLIENT_ID_MAX,
        required=False,
        allow_null=True,
        min_length=1,
        trim_whitespace=False,
    )
    rev = serializers.IntegerField(read_only=True)
    edited = serializers.CharField(read_only=True, allow_null=True)
    deleted = serializers.BooleanField(read_only=True)
    reactions = ReactionSerializer(many=True, read_only=True)
    reply_to = ReplyToField()

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
                    "rev": 0,
                    "edited": None,
                    "deleted": False,
                    "reactions": [],
                    "reply_to": None,
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
                room=room,
                user=request.user,
                body=body,
                client_id=client_id,
                reply_to=data.validated_data.get("reply_to"),
            )
        except ChatError as exc:
            raise exc.api_error() from None
        except DjangoValidationError as exc:
            raise drf_error(exc) from None
        if created:
            frame = message_frame(message, room_slug=room.slug)
            return Response(frame, status=status.HTTP_201_CREATED)
        # A resend: the original as it is now (it may have changed since).
        frame = selectors.message_state(room=room, message_id=message.pk)
        if frame is None:
            raise MessageGone().api_error()
        if selectors.original_body(message=message) != body:
            raise Conflict("This client_id was used for another message body.")
        # The same answer as the first time, marked as a replay (as Stripe does).
        return Response(
            frame, status=status.HTTP_200_OK, headers={"Idempotent-Replayed": "true"}
        )


# --- one message: its current state, edit, delete, versions, reactions ---------------------

#: the `<message_id>` of every message path
MESSAGE_ID = OpenApiParameter(
    "message_id",
    {"type": "integer", "minimum": 1, "maximum": INT64_MAX},
    OpenApiParameter.PATH,
    required=True,
)
MESSAGE_ERRORS = (
    (403, "`permission_denied`: not on the room's whitelist"),
    (404, "`not_found`: no such room, or no such message in it"),
)
#: what a change answers besides the room's errors
CHANGE_ERRORS = (
    (400, "`invalid`: a bad field, or (`errors.id`) the message is deleted"),
    (403, "`permission_denied`: not on the whitelist, or not allowed this change"),
    (404, "`not_found`: no such room, or no such message in it"),
)


def room_message(request: Request, slug: str, message_id: int) -> tuple[Any, Any]:
    """The room (as allowed_room) and its message `message_id`: 404 when it has none."""
    room = allowed_room(request, slug)
    message = (
        selectors.message_get(room=room, message_id=message_id)
        if 1 <= message_id <= INT64_MAX
        else None
    )
    if message is None:
        raise MessageGone().api_error()
    return room, message


def changed(service: Any, **kwargs: Any) -> Response:
    """Run a change service; its refusals as the project's REST errors."""
    try:
        frame = service(**kwargs)
    except ChatError as exc:
        raise exc.api_error() from None
    except DjangoValidationError as exc:
        raise drf_error(exc) from None
    return Response(frame)


class MessageEditSerializer(StrictSerializer):
    """`{body}`: the new body of an edit."""

    body = serializers.RegexField(r"\S", max_length=settings.WS_MAX_BODY_CHARS)

    def validate_body(self, value: str) -> str:
        try:
            return clean_body(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class EmojiSerializer(StrictSerializer):
    """`{emoji}`: 1 to 16 characters, no whitespace."""

    emoji = serializers.CharField(
        min_length=1, max_length=EMOJI_MAX, trim_whitespace=False
    )

    def validate_emoji(self, value: str) -> str:
        try:
            return clean_emoji(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class MessageDetailView(APIView):
    """`GET` one message's current state; `PATCH` edits it; `DELETE` makes a tombstone."""

    throttle_classes = [WriteThrottle]

    @extend_schema(
        operation_id="rooms_messages_retrieve",
        parameters=[SLUG, MESSAGE_ID],
        responses={200: MessageSerializer, **errors(*MESSAGE_ERRORS)},
    )
    def get(self, request: Request, slug: str, message_id: int) -> Response:
        room, message = room_message(request, slug, message_id)
        frame = selectors.message_state(room=room, message_id=message.pk)
        if frame is None:
            raise MessageGone().api_error()
        return Response(frame)

    @extend_schema(
        operation_id="rooms_messages_edit",
        parameters=[SLUG, MESSAGE_ID],
        request=MessageEditSerializer,
        responses={
            200: OpenApiResponse(
                MessageSerializer, description="edited (its author only)"
            ),
            **errors(*CHANGE_ERRORS),
        },
    )
    def patch(self, request: Request, slug: str, message_id: int) -> Response:
        _room, message = room_message(request, slug, message_id)
        data = MessageEditSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return changed(
            services.message_edit,
            message=message,
            user=request.user,
            body=data.validated_data["body"],
        )

    @extend_schema(
        operation_id="rooms_messages_delete",
        parameters=[SLUG, MESSAGE_ID],
        request=None,
        responses={
            200: OpenApiResponse(
                MessageSerializer,
                description="the tombstone (its author, the room's owner, staff)",
            ),
            **errors(*CHANGE_ERRORS),
        },
    )
    def delete(self, request: Request, slug: str, message_id: int) -> Response:
        _room, message = room_message(request, slug, message_id)
        return changed(services.message_delete, message=message, by=request.user)


class VersionSerializer(serializers.Serializer):
    """An earlier body: when it was written (`ts`) and when an edit replaced it."""

    body = serializers.CharField(read_only=True)
    ts = serializers.CharField(read_only=True)
    replaced = serializers.CharField(read_only=True)


class MessageVersionsView(APIView):
    """`GET` a message's newest 100 earlier bodies, oldest first (author, room owner,
    staff)."""

    @extend_schema(
        operation_id="rooms_messages_versions",
        parameters=[SLUG, MESSAGE_ID],
        responses={
            200: inline_serializer(
                "MessageVersions",
                {
                    "results": VersionSerializer(many=True),
                    "has_more": serializers.BooleanField(
                        help_text="older versions than these 100 exist"
                    ),
                },
            ),
            **errors(
                (403, "`permission_denied`: not the author, room owner or staff"),
                (404, "`not_found`: no such room, or no such message in it"),
            ),
        },
    )
    def get(self, request: Request, slug: str, message_id: int) -> Response:
        room, message = room_message(request, slug, message_id)
        if message.user_id != request.user.pk and not selectors.may_moderate(
            room=room, user=request.user
        ):
            raise NotPermitted(
                "Only its author, the room's owner or staff."
            ).api_error()
        versions, more = selectors.message_versions(message=message)
        return Response({"results": versions, "has_more": more})


class MessageReactionsView(APIView):
    """`POST` puts the user's `emoji` on a message, `DELETE` takes it back."""

    throttle_classes = [WriteThrottle]

    @extend_schema(
        operation_id="rooms_messages_reactions_create",
        parameters=[SLUG, MESSAGE_ID],
        request=EmojiSerializer,
        responses={
            200: OpenApiResponse(
                MessageSerializer,
                description="the message with the reaction (already there: unchanged)",
            ),
            **errors(
                (400, "`invalid`: a bad emoji, over 20 distinct, or deleted"),
                *MESSAGE_ERRORS,
            ),
        },
    )
    def post(self, request: Request, slug: str, message_id: int) -> Response:
        return self._set(request, slug, message_id, on=True)

    @extend_schema(
        operation_id="rooms_messages_reactions_delete",
        parameters=[SLUG, MESSAGE_ID],
        request=EmojiSerializer,
        responses={
            200: OpenApiResponse(
                MessageSerializer,
                description="the message without the reaction (absent: unchanged)",
            ),
            **errors(
                (400, "`invalid`: a bad emoji, or the message is deleted"),
                *MESSAGE_ERRORS,
            ),
        },
    )
    def delete(self, request: Request, slug: str, message_id: int) -> Response:
        return self._set(request, slug, message_id, on=False)

    def _set(
        self, request: Request, slug: str, message_id: int, *, on: bool
    ) -> Response:
        _room, message = room_message(request, slug, message_id)
        data = EmojiSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return changed(
            services.reaction_toggle,
            message=message,
            user=request.user,
            emoji=data.validated_data["emoji"],
            on=on,
        )


# --- the room's changes -------------------------------------------------------------------


class ChangesQuery(serializers.Serializer):
    """`?rev=&limit=` of a room's changes."""

    rev = QueryInteger(
        min_value=0,
        max_value=INT64_MAX,
        help_text="only messages changed after this rev (the welcome's, or the last "
        "result's `rev` of the previous page)",
    )
    limit = QueryInteger(
        min_value=1,
        max_value=selectors.PAGE_LIMIT_MAX,
        required=False,
        help_text=f"page size, 1 to {selectors.PAGE_LIMIT_MAX} (default "
        f"{selectors.PAGE_LIMIT_DEFAULT}); more is a 400, never cut",
    )


class RoomChangesView(APIView):
    """`GET` the room's messages changed after `rev`, oldest change first (by rev)."""

    @extend_schema(
        operation_id="rooms_changes_list",
        parameters=[SLUG, ChangesQuery],
        responses={
            200: inline_serializer(
                "ChangePage",
                {
                    "results": MessageSerializer(many=True),
                    "has_more": serializers.BooleanField(),
                },
            ),
            **errors(
                (400, "`invalid`: a missing or bad rev, or a bad limit"), *ROOM_ERRORS
            ),
        },
    )
    def get(self, request: Request, slug: str) -> Response:
        room = allowed_room(request, slug)
        query = ChangesQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        results, more = selectors.changes_page(
            room=room,
            rev=params["rev"],
            limit=params.get("limit", selectors.PAGE_LIMIT_DEFAULT),
        )
        return Response({"results": results, "has_more": more})
