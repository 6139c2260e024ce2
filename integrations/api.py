"""The server API for other backends (PROTOCOL.md section 11): publish, notify, disconnect.

`Authorization: Api-Key <key>`, each endpoint behind its scope, all through the same
services as the socket and REST; API_SERVER_THROTTLE per key.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import selectors as chat_selectors
from chat import services as chat_services
from chat.api.messages import client_id_of
from chat.errors import ChatError, RoomGone
from chat.schemas import message_frame
from integrations import selectors, services
from integrations.auth import ApiKeyAuthentication, HasScope, ServerApiThrottle
from integrations.serializers import (
    DisconnectSerializer,
    PublishedMessageSerializer,
    PublishedSystemSerializer,
    PublishSerializer,
)
from notifications.api import notifications_send
from notifications.serializers import NotificationSendSerializer, SendResultSerializer
from realtime.web.errors import Conflict
from realtime.web.rest import errors

TAGS = ["server"]
SCOPE_403 = (403, "the API key lacks this endpoint's scope")


def _field_errors(exc: DjangoValidationError) -> ValidationError:
    return ValidationError(
        exc.message_dict if hasattr(exc, "error_dict") else exc.messages
    )


class ServerView(APIView):
    """An endpoint of the server API: an API key with the view's `scope`."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasScope]
    throttle_classes = [ServerApiThrottle]
    scope = ""


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="an alias of `client_id` (give one, or both the same)",
)
REPLAYED = OpenApiParameter(
    "Idempotent-Replayed",
    str,
    OpenApiParameter.HEADER,
    enum=["true"],
    response=[200],
    description="`true`: this answers a resend with the original message",
)


class PublishView(ServerView):
    """Post a message to a room as a user, or a system message."""

    scope = "publish"

    @extend_schema(
        tags=TAGS,
        summary="Publish a message to a room",
        parameters=[IDEMPOTENCY_KEY, REPLAYED],
        request=PublishSerializer,
        responses={
            201: PolymorphicProxySerializer(
                component_name="Published",
                serializers={
                    "message": PublishedMessageSerializer,
                    "system": PublishedSystemSerializer,
                },
                resource_type_field_name="type",
            ),
            200: OpenApiResponse(
                PublishedMessageSerializer,
                description="a resend of a known client_id: the original message",
            ),
            **errors(
                (400, "field errors; an unknown or inactive username"),
                (
                    403,
                    "the API key lacks the scope, the user may not post there, or "
                    "the room is archived",
                ),
                (404, "no such room"),
                (409, "the client_id was used before with another body"),
                (429, "over API_SERVER_THROTTLE for this key"),
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data = PublishSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        client_id = client_id_of(request, fields.get("client_id"))
        room = chat_selectors.room_get(slug=fields["room"])
        if room is None:
            raise RoomGone.api_error()
        username = fields.get("username")
        if username is None:
            if client_id is not None:
                raise ValidationError(
                    {
                        "client_id": [
                            "A system message is not stored, so it cannot be "
                            "idempotent: give a username, or no client_id."
                        ]
                    }
                )
            frame = chat_services.system_broadcast(room=room, body=fields["body"])
            return Response({**frame, "room": room.slug}, status=201)
        user = selectors.active_user(username=username)
        if user is None:
            raise ValidationError({"username": ["No active user has this username."]})
        try:
            message, created = chat_services.message_create(
                room=room, user=user, body=fields["body"], client_id=client_id
            )
        except ChatError as exc:
            raise exc.api_error() from None
        except DjangoValidationError as exc:
            raise _field_errors(exc) from None
        if created:
            frame = message_frame(message, room_slug=room.slug)
        else:
            # A resend, as on REST: matched against the body it was first posted with,
            # answered with the message as it is now (it may have changed since).
            if chat_selectors.original_body(message=message) != fields["body"]:
                raise Conflict()
            frame = chat_selectors.message_state(room=room, message_id=message.pk)
            if frame is None:
                raise ValidationError({"client_id": ["The original is gone."]})
        response = Response(frame, status=201 if created else 200)
        if not created:
            response["Idempotent-Replayed"] = "true"
        return response


class NotifyView(ServerView):
    """Store and push a notification to users (the staff REST send, for a backend)."""

    scope = "notify"

    @extend_schema(
        tags=TAGS,
        summary="Send a notification to users",
        request=NotificationSendSerializer,
        responses={
            201: SendResultSerializer,
            **errors(
                (400, "field errors; unknown usernames or ids listed"),
                SCOPE_403,
                (429, "over API_SERVER_THROTTLE for this key"),
            ),
        },
    )
    def post(self, request: Request) -> Response:
        return notifications_send(request.data)


class DisconnectView(ServerView):
    """Close every socket of a user with 4403."""

    scope = "disconnect"

    @extend_schema(
        tags=TAGS,
        summary="Close every socket of a user (4403)",
        request=DisconnectSerializer,
        responses={
            204: OpenApiResponse(description="the sockets close, on every process"),
            **errors(
                (400, "field errors; no user has this username"),
                SCOPE_403,
                (429, "over API_SERVER_THROTTLE for this key"),
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data = DisconnectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = selectors.active_user(username=data.validated_data["username"])
        if user is None:
            raise ValidationError({"username": ["No active user has this username."]})
        services.user_disconnect(user_id=user.pk)
        return Response(status=204)
