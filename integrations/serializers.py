"""REST shapes of the server API: strict JSON in (realtime.web.rest.StrictSerializer)."""

from __future__ import annotations

from rest_framework import serializers

from chat.schemas import CLIENT_ID_MAX, clean_body
from realtime.web.rest import StrictSerializer

USERNAME_MAX = 150
SLUG_MAX = 64


class PublishSerializer(StrictSerializer):
    """`{room, body, client_id?, username?}`: a message as `username`, else a system one."""

    room = serializers.RegexField(r"^[-a-zA-Z0-9_]+$", max_length=SLUG_MAX)
    # Trimmed, 1 to WS_MAX_BODY_CHARS characters, as on the socket.
    body = serializers.CharField(trim_whitespace=False)
    client_id = serializers.CharField(
        max_length=CLIENT_ID_MAX,
        min_length=1,
        required=False,
        trim_whitespace=False,
        help_text="makes the send idempotent (a stored message only: needs username)",
    )
    username = serializers.CharField(
        max_length=USERNAME_MAX,
        required=False,
        help_text="post as this active user; absent: a system message (not stored)",
    )

    def validate_body(self, value: str) -> str:
        try:
            return clean_body(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate_client_id(self, value: str) -> str:
        if "\x00" in value:
            raise serializers.ValidationError("client_id contains a NUL character")
        return value


class ServerUserSerializer(serializers.Serializer):
    """The protocol's user object."""

    id = serializers.IntegerField()
    username = serializers.CharField()


class PublishedMessageSerializer(serializers.Serializer):
    """A stored message, as the socket's `message` frame."""

    type = serializers.ChoiceField(choices=["message"])
    id = serializers.IntegerField()
    seq = serializers.IntegerField()
    room = serializers.CharField()
    user = ServerUserSerializer()
    body = serializers.CharField()
    ts = serializers.CharField()
    client_id = serializers.CharField(allow_null=True)


class PublishedSystemSerializer(serializers.Serializer):
    """A system message: the socket's `system` frame, with its room."""

    type = serializers.ChoiceField(choices=["system"])
    room = serializers.CharField()
    body = serializers.CharField()
    ts = serializers.CharField()


class DisconnectSerializer(StrictSerializer):
    """`{username}`: whose sockets to close."""

    username = serializers.CharField(max_length=USERNAME_MAX)
