"""REST: register, and simplejwt's token endpoints under the auth throttle."""

from django.conf import settings
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt.serializers import (
    TokenObtainPairSerializer,
    TokenRefreshSerializer,
)
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from accounts.serializers import RegisterSerializer, UserSerializer
from accounts.services import user_create
from realtime.ws.rest import errors


class AuthThrottle(ScopedRateThrottle):
    """Per-IP rate of API_AUTH_THROTTLE; an empty setting turns it off."""

    scope_attr = "throttle_scope"

    def allow_request(self, request, view) -> bool:
        if not settings.API_AUTH_THROTTLE:
            return True
        return super().allow_request(request, view)


class ThrottledAuthMixin:
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [AuthThrottle]
    throttle_scope = "auth"


@extend_schema_view(
    post=extend_schema(
        responses={
            200: TokenObtainPairSerializer,
            **errors((401, "bad credentials, or an inactive user"), 429),
        }
    )
)
class TokenView(ThrottledAuthMixin, TokenObtainPairView):
    """`POST {username,password}` -> `{access, refresh}`; 401 on bad credentials."""


@extend_schema_view(
    post=extend_schema(
        responses={
            200: TokenRefreshSerializer,
            **errors((401, "not a valid refresh token"), 429),
        }
    )
)
class RefreshView(ThrottledAuthMixin, TokenRefreshView):
    """`POST {refresh}` -> `{access}`."""


class RegisterView(ThrottledAuthMixin, APIView):
    """`POST {username,password}` -> 201 with the user; 400 with field errors."""

    @extend_schema(
        request=RegisterSerializer,
        responses={
            201: UserSerializer,
            **errors((400, "field errors: username taken, weak password"), 429),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_create(**serializer.validated_data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)
