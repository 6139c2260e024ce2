"""REST of the chat app (PROTOCOL.md section 2): rooms, messages, whitelist, presence."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.throttling import WriteThrottle
from chat import selectors, services
from chat.models import Room
from chat.schemas import CLIENT_ID_MAX, clean_body, message_frame, user_out

# --- representations ------------------------------------------------------------------


class ChatUserSerializer(serializers.Serializer):
    """The protocol's user object."""

    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)


class RoomSerializer(serializers.Serializer):
    """A room as the API shows it."""

    slug = serializers.SlugField(max_length=64)
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    is_private = serializers.BooleanField(required=False, default=False)
    owner = ChatUserSerializer(read_only=True, allow_null=True)
    created = serializers.DateTimeField(read_only=True)
    last_seq = serializers.IntegerField(read_only=True)


class MessageSerializer(serializers.Serializer):
    """A message: the same object as the socket's `message` frame."""

    type = serializers.CharField(read_only=True, default="message")
    id = serializers.IntegerField(read_only=True)
    seq = serializers.IntegerField(read_only=True)
    room = serializers.CharField(read_only=True)
    user = ChatUserSerializer(read_only=True)
    body = serializers.CharField()
    ts = serializers.CharField(read_only=True)
    client_id = serializers.CharField(
        max_length=CLIENT_ID_MAX, required=False, allow_null=True, min_length=1
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


class UsernameSerializer(serializers.Serializer):
    """`{username}` of a whitelist change."""

    username = serializers.CharField(max_length=150)


class MessagesQuery(serializers.Serializer):
    """`?after=&before=&limit=` of the message list."""

    after = serializers.IntegerField(min_value=0, required=False)
    before = serializers.IntegerField(min_value=1, required=False)
    limit = serializers.IntegerField(min_value=1, required=False)


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
    access = selectors.room_access(slug=slug, user=request.user)
    if access.room is None:
        raise NotFound("No such room.")
    if not access.allowed:
        raise PermissionDenied("You are not on this room's whitelist.")
    return access.room


def drf_error(exc: DjangoValidationError) -> ValidationError:
    """A service's ValidationError as DRF field errors (a 400)."""
    return ValidationError(
        exc.message_dict if hasattr(exc, "error_dict") else exc.messages
    )


# --- views ------------------------------------------------------------------------------


class RoomListView(APIView):
    """`GET /api/rooms/` the rooms this user may enter; `POST` creates one."""

    throttle_classes = [
        WriteThrottle
    ]  # writes count (API_WRITE_THROTTLE), reads do not

    @extend_schema(
        operation_id="rooms_list",
        responses=paged("RoomPage", RoomSerializer(many=True)),
    )
    def get(self, request: Request) -> Response:
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(
            selectors.rooms_for_user(user=request.user), request, view=self
        )
        return paginator.get_paginated_response([room_out(r) for r in page])

    @extend_schema(request=RoomSerializer, responses={201: RoomSerializer})
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

    @extend_schema(responses=RoomSerializer)
    def get(self, request: Request, slug: str) -> Response:
        return Response(room_out(allowed_room(request, slug)))


class RoomMessagesView(APIView):
    """`GET` pages of a room's messages by seq; `POST` stores one and delivers it live."""

    throttle_classes = [
        WriteThrottle
    ]  # writes count (API_WRITE_THROTTLE), reads do not

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "after", int, description="only messages with seq above this"
            ),
            OpenApiParameter(
                "before", int, description="only messages with seq below this"
            ),
            OpenApiParameter(
                "limit", int, description="page size, at most 200 (default 50)"
            ),
        ],
        responses=inline_serializer(
            "MessagePage",
            {
                "results": MessageSerializer(many=True),
                "has_more": serializers.BooleanField(),
            },
        ),
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

    @extend_schema(request=MessageSerializer, responses={201: MessageSerializer})
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
        except services.NotAllowed:
            raise PermissionDenied("You are not on this room's whitelist.") from None
        except services.RoomGone:
            raise NotFound("No such room.") from None
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
        username = (
            request.data.get("username") if hasattr(request.data, "get") else None
        )
        if username is None:
            username = request.query_params.get("username")
        data = UsernameSerializer(
            data={} if username is None else {"username": username}
        )
        data.is_valid(raise_exception=True)
        user = (
            get_user_model()
            .objects.filter(username=data.validated_data["username"])
            .first()
        )
        if user is None:
            raise ValidationError({"username": ["No such user."]})
        return user

    @extend_schema(responses=paged("MemberPage", ChatUserSerializer(many=True)))
    def get(self, request: Request, slug: str) -> Response:
        room = allowed_room(request, slug)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(
            selectors.room_members(room=room), request, view=self
        )
        return paginator.get_paginated_response(users_out(page))

    @extend_schema(
        request=UsernameSerializer,
        responses={201: ChatUserSerializer, 200: ChatUserSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        room = self.owned_room(request, slug)
        user = self.named_user(request)
        _membership, created = services.membership_grant(room=room, user=user)
        return Response(
            user_out(user.pk, user.username),
            status=201 if created else status.HTTP_200_OK,
        )

    @extend_schema(request=UsernameSerializer, responses={204: None})
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

    @extend_schema(responses=paged("PresencePage", ChatUserSerializer(many=True)))
    def get(self, request: Request, slug: str) -> Response:
        room = allowed_room(request, slug)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(
            selectors.online_users(room_slug=room.slug), request, view=self
        )
        return paginator.get_paginated_response(users_out(page))
