"""REST: list, mark read, mark all read (owner); send (staff with the send permission)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.throttling import WriteThrottle
from notifications import selectors, services
from notifications.serializers import (
    NotificationSendSerializer,
    NotificationSerializer,
    SendResultSerializer,
    UnreadSerializer,
)
from realtime.web.rest import INT64_MAX, ListPagination, ListQuery, errors


def _flag(request: Request, name: str) -> bool:
    """`?name=1` or `?name=0` (absent: 0); anything else is a 400, never a guess."""
    raw = request.query_params.get(name, "0")
    if raw not in ("0", "1"):
        raise ValidationError({name: ["Use 1 or 0."]})
    return raw == "1"


class MaySendNotifications(BasePermission):
    """Staff with notifications.add_notification: what the admin's send action needs."""

    message = (
        "Sending notifications takes the notifications.add_notification permission."
    )

    def has_permission(self, request: Request, view: object) -> bool:
        return selectors.user_may_send_notifications(user=request.user)


class NotificationListView(GenericAPIView):
    """GET: the user's own notifications, newest first. POST: a staff send."""

    serializer_class = NotificationSerializer
    pagination_class = ListPagination
    throttle_classes = [WriteThrottle]  # a send counts (API_WRITE_THROTTLE), a list not

    def get_queryset(self):
        """The caller's own notifications (the browsable renderer asks for it too)."""
        return selectors.notification_list(
            user_id=self.request.user.pk, unread_only=_flag(self.request, "unread")
        )

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsAuthenticated(), MaySendNotifications()]
        return [IsAuthenticated()]

    @extend_schema(
        summary="List own notifications",
        parameters=[
            OpenApiParameter(
                "unread",
                OpenApiTypes.INT,
                description="1: only unread ones",
                enum=[0, 1],
            ),
            ListQuery,
        ],
        responses={
            200: NotificationSerializer(many=True),
            **errors((400, "`invalid`: a bad unread, limit or offset")),
        },
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(NotificationSerializer(page, many=True).data)

    @extend_schema(
        summary="Send a notification (staff)",
        request=NotificationSendSerializer,
        responses={
            201: SendResultSerializer,
            **errors(
                (400, "field errors; unknown usernames or ids listed"),
                (403, "not staff with notifications.add_notification"),
            ),
        },
    )
    def post(self, request: Request) -> Response:
        return notifications_send(request.data)


def notifications_send(body: Any) -> Response:
    """A send's body validated, its recipients resolved, stored and pushed: 201 `{count}`.

    The one road of the staff REST send and the server API's notify
    (integrations/api.py); unknown names and ids, and the service's refusals, are 400s.
    """
    serializer = NotificationSendSerializer(data=body)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    recipients, errors = selectors.recipients(
        usernames=data.get("usernames", []), user_ids=data.get("user_ids", [])
    )
    if errors:
        raise ValidationError(errors)
    try:
        count = services.notifications_create_bulk(
            user_ids=recipients,
            title=data["title"],
            body=data["body"],
            level=data["level"],
            link=data["link"],
        )
    except DjangoValidationError as exc:
        raise ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        ) from None
    return Response({"count": count}, status=status.HTTP_201_CREATED)


class NotificationReadView(APIView):
    """POST: mark one of the user's notifications read."""

    @extend_schema(
        summary="Mark a notification read",
        request=None,
        responses={200: UnreadSerializer, **errors((404, "no such id, or not yours"))},
    )
    def post(self, request: Request, pk: int) -> Response:
        count = None
        if pk <= INT64_MAX:
            count = services.notification_mark_read(
                notification_id=pk, user_id=request.user.pk
            )
        if count is None:
            raise NotFound()  # someone else's id and no such id answer alike
        return Response({"unread": count})


class NotificationReadAllView(APIView):
    """POST: mark every notification of the user read."""

    @extend_schema(
        summary="Mark all notifications read", request=None, responses=UnreadSerializer
    )
    def post(self, request: Request) -> Response:
        return Response(
            {"unread": services.notifications_mark_all_read(user_id=request.user.pk)}
        )
