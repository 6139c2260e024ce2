"""REST of the chat app (PROTOCOL.md section 2): rooms, messages, whitelist, presence."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import slug_re
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.throttling import WriteThrottle
from chat import selectors, services
from chat.errors import ChatError, NotAllowed, RoomGone
from chat.models import Room
from chat.schemas import CLIENT_ID_MAX, clean_body, message_frame, user_out
from realtime.web.rest import INT64_MAX, StrictSerializer, errors

SLUG_MAX = 64

# --- representations ------------------------------------------------------------------


class ChatUserSerializer(serializers.Serializer):
    """The protocol's user object."""

    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)


class RoomSerializer(StrictSerializer):
    """A room as the API shows it."""

    slug = serializers.SlugField(max_length=SLUG_MAX)
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    is_private = serializers.BooleanField(required=False, default=False)
    owner = ChatUserSerializer(read_only=True, allow_null=True)
    created = serializers.DateTimeField(read_only=True)
    last_seq = serializers.IntegerField(read_only=True)


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


class UsernameSerializer(StrictSerializer):
    """`{username}` of a whitelist change."""

    username = serializers.CharField(max_length=150)


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


#: the `<slug>` of every room path: what a room's slug can be
SLUG = OpenApiParameter(
    "slug",
    {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$", "maxLength": SLUG_MAX},
    OpenApiParameter.PATH,
    required=True,
)
PAGE = OpenApiParameter(
    "page", {"type": "integer", "minimum": 1}, description="page number (from 1)"
)
#: what every room path can answer besides its own errors
ROOM_ERRORS = ((403, "not on the room's whitelist"), (404, "no such room"))


def paged(name: str, item: serializers.Serializer) -> Any:
    """The OpenAPI shape of a paginated list (DRF's PageNumberPagination envelope)."""
    return inline_serializer(
        name,
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item,
        },
    )


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


def users_out(users: Any) -> list[dict[str, Any]]:
    return [user_out(u.pk, u.username) for u in users]


def allowed_room(request: Request, slug: str) -> Room:
    """The room, if this user may enter it: 404 no such room, 403 not whitelisted."""
    if len(slug) > SLUG_MAX or not slug_re.match(slug):
        # No room has it, and a NUL in it would fail the query on PostgreSQL.
        raise RoomGone.api_error()
    access = selectors.room_access(slug=slug, user=request.user)
    if access.room is None:
        raise RoomGone.api_error()
    if not access.allowed:
        raise NotAllowed.api_error()
    return access.room


def drf_error(exc: DjangoValidationError) -> ValidationError:
    """A service's ValidationError as DRF field errors (a 400, always an object)."""
    return ValidationError(
        exc.message_dict
        if hasattr(exc, "error_dict")
        else {"non_field_errors": exc.messages}
    )


# --- views ------------------------------------------------------------------------------


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


class RoomMembersView(APIView):
    """The whitelist: members read it, the owner adds (`POST`) and removes (`DELETE`)."""

    throttle_classes = [
        WriteThrottle
    ]  # writes count (API_WRITE_THROTTLE), reads do not

    def owned_room(self, request: Request, slug: str) -> Room:
        room = allowed_room(request, slug)
        if room.owner_id != request.user.pk:
            raise PermissionDenied("Only the room's owner manages its whitelist.")
        return room

    @staticmethod
    def named_user(request: Request) -> Any:
        # DELETE bodies are dropped by some clients: `?username=` works too.
        body = request.data
        if not body and "username" in request.query_params:
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
        parameters=[SLUG, PAGE],
        responses={
            200: paged("MemberPage", ChatUserSerializer(many=True)),
            **errors(*ROOM_ERRORS),
        },
    )
    def get(self, request: Request, slug: str) -> Response:
        room = allowed_room(request, slug)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(
            selectors.room_members(room=room), request, view=self
        )
        return paginator.get_paginated_response(users_out(page))

    @extend_schema(
        parameters=[SLUG],
        request=UsernameSerializer,
        responses={
            201: OpenApiResponse(ChatUserSerializer, description="added"),
            200: OpenApiResponse(ChatUserSerializer, description="already a member"),
            **errors(
                (400, "field errors; no such user"),
                (403, "not the room's owner"),
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
        parameters=[
            SLUG,
            OpenApiParameter(
                "username",
                {"type": "string", "minLength": 1, "maxLength": 150},
                required=True,
                description="who leaves the whitelist (a JSON body "
                '{"username": ...} works too)',
            ),
        ],
        request=None,
        responses={
            204: OpenApiResponse(description="removed, and their sockets closed"),
            **errors(
                (400, "no such user; the owner stays"),
                (403, "not the room's owner"),
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
