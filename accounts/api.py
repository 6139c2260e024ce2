"""REST: register, and the JWT endpoints (token, refresh, logout) under the auth throttle."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from accounts.serializers import (
    LogoutSerializer,
    RegisterSerializer,
    TokenObtainSerializer,
    TokenRefreshSerializer,
    UserSerializer,
)
from accounts.services import refresh_token_blacklist, user_create
from accounts.throttling import AuthThrottle
from realtime.web.rest import errors


class ThrottledAuthMixin:
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [AuthThrottle]
    throttle_scope = "auth"


@extend_schema_view(
    post=extend_schema(
        responses={
            200: TokenObtainSerializer,
            **errors(
                (401, "`not_authenticated`: bad credentials, or an inactive user"), 429
            ),
        },
        examples=[
            OpenApiExample(
                "credentials",
                value={"username": "alice", "password": "correct horse battery"},
                request_only=True,
            ),
            OpenApiExample(
                "the pair",
                value={"access": "eyJhbGciOi...", "refresh": "eyJhbGciOi..."},
                response_only=True,
                status_codes=["200"],
            ),
        ],
    )
)
class TokenView(ThrottledAuthMixin, TokenObtainPairView):
    """`POST {username,password}` -> `{access, refresh}`; 401 on bad credentials.

    429 past API_AUTH_THROTTLE, or past LOGIN_THROTTLE failed sign-ins of this client
    or username (refused before the password is checked).
    """

    serializer_class = TokenObtainSerializer


@extend_schema_view(
    post=extend_schema(
        responses={
            200: TokenRefreshSerializer,
            **errors((401, "`token_not_valid`: not a valid refresh token"), 429),
        },
        examples=[
            OpenApiExample(
                "a refresh token",
                value={"refresh": "eyJhbGciOi..."},
                request_only=True,
            ),
        ],
    )
)
class RefreshView(ThrottledAuthMixin, TokenRefreshView):
    """`POST {refresh}` -> `{access, refresh}`; the refresh token used is blacklisted.

    401 for a used, logged-out or revoked refresh token, and for one whose user is
    gone or inactive.
    """

    serializer_class = TokenRefreshSerializer


class LogoutView(ThrottledAuthMixin, APIView):
    """`POST {refresh}` -> 204: that refresh token never refreshes again."""

    def get_authenticate_header(self, request: Request) -> str:
        # As simplejwt's views: a bad token is a 401 (DRF makes it 403 without this).
        return 'Bearer realm="api"'

    @extend_schema(
        operation_id="auth_logout",
        request=LogoutSerializer,
        responses={
            204: OpenApiResponse(description="the refresh token is blacklisted"),
            **errors(
                (401, "`token_not_valid`: a bad, expired or used refresh token"), 429
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data = LogoutSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            refresh = RefreshToken(data.validated_data["refresh"])
        except TokenError as exc:
            raise InvalidToken(exc.args[0]) from None
        refresh_token_blacklist(refresh=refresh)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RegisterView(ThrottledAuthMixin, APIView):
    """`POST {username,password}` -> 201 with the user; 400 with field errors."""

    @extend_schema(
        request=RegisterSerializer,
        responses={
            201: UserSerializer,
            **errors(
                (400, "`invalid`: field errors: username taken, weak password"), 429
            ),
        },
        examples=[
            OpenApiExample(
                "a new user",
                value={"username": "alice", "password": "correct horse battery"},
                request_only=True,
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_create(**serializer.validated_data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)
