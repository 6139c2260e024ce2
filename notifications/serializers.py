"""REST shapes of the notifications API."""

from __future__ import annotations

from rest_framework import serializers

from notifications.models import Notification
from realtime.socket.frames import iso
from realtime.web.rest import INT64_MAX, StrictSerializer

#: recipients of one REST send (the command and the admin have no such cap)
MAX_RECIPIENTS = 10_000


class NotificationSerializer(serializers.ModelSerializer):
    """One notification as the list shows it: the socket frame's fields, plus link and read_at."""

    ts = serializers.SerializerMethodField()
    read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "title", "body", "level", "link", "ts", "read", "read_at"]
        read_only_fields = fields

    def get_ts(self, obj: Notification) -> str:
        return iso(obj.created)

    def get_read(self, obj: Notification) -> bool:
        return obj.read_at is not None


class NotificationSendSerializer(StrictSerializer):
    """`{usernames or user_ids, title, body, level, link?}`: a staff send."""

    usernames = serializers.ListField(
        child=serializers.CharField(max_length=150),
        required=False,
        max_length=MAX_RECIPIENTS,
    )
    user_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=INT64_MAX),
        required=False,
        max_length=MAX_RECIPIENTS,
    )
    title = serializers.CharField(max_length=200)
    body = serializers.CharField(
        max_length=4000, required=False, allow_blank=True, default=""
    )
    level = serializers.ChoiceField(
        choices=Notification.Level.choices,
        required=False,
        default=Notification.Level.INFO,
    )
    link = serializers.CharField(
        max_length=500, required=False, allow_blank=True, default=""
    )

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("usernames") and not attrs.get("user_ids"):
            raise serializers.ValidationError(
                {"usernames": ["Give usernames or user_ids (at least one recipient)."]}
            )
        return attrs


class SendResultSerializer(serializers.Serializer):
    """The answer to a send: how many notifications were stored (and pushed)."""

    count = serializers.IntegerField()


class UnreadSerializer(serializers.Serializer):
    """The user's unread count after a mark-read."""

    unread = serializers.IntegerField()
