"""REST input of the accounts API."""

from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.services import refresh_token_rotate
from accounts.tokens import token_for_user
from realtime.web.rest import StrictSerializer


class RegisterSerializer(StrictSerializer):
    """`{username, password}`: Django's username rules and password validators."""

    username = serializers.CharField(max_length=150)
    password = serializers.CharField(
        write_only=True, max_length=128, style={"input_type": "password"}
    )

    def validate_username(self, value: str) -> str:
        User = get_user_model()
        field = User._meta.get_field("username")
        for validator in field.validators:
            try:
                validator(value)
            except DjangoValidationError as exc:
                raise serializers.ValidationError(list(exc.messages)) from None
        if User.objects.filter(username__iexact=value).exists():
            raise serializers.ValidationError(
                "A user with that username already exists."
            )
        return value

    def validate(self, attrs: dict) -> dict:
        user = get_user_model()(username=attrs["username"])
        try:
            password_validation.validate_password(attrs["password"], user)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(
                {"password": list(exc.messages)}
            ) from None
        return attrs


class UserSerializer(serializers.Serializer):
    """The protocol's user object."""

    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)


class TokenObtainSerializer(StrictSerializer, TokenObtainPairSerializer):
    """`{username, password}` -> `{access, refresh}`, carrying the user's token version.

    Strict like every body: `{"username": 5}` or an extra field is a 400, not a guess.
    """

    access = serializers.CharField(read_only=True)
    refresh = serializers.CharField(read_only=True)

    @classmethod
    def get_token(cls, user: Any) -> RefreshToken:
        return token_for_user(user)


class TokenRefreshSerializer(StrictSerializer):
    """`{refresh}` -> `{access, refresh}`: the refresh token rotates, the old one dies."""

    refresh = serializers.CharField()
    access = serializers.CharField(read_only=True)

    def validate(self, attrs: dict) -> dict:
        # TokenError (bad, expired, blacklisted, revoked) is the view's 401.
        return refresh_token_rotate(refresh=RefreshToken(attrs["refresh"]))


class LogoutSerializer(StrictSerializer):
    """`{refresh}`: the refresh token to blacklist."""

    refresh = serializers.CharField()
