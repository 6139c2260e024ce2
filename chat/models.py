"""Rooms, their whitelist, messages with a gapless per-room seq, and announced presence."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Room(models.Model):
    """A chat room; private rooms admit only the users on their whitelist (Membership)."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    is_private = models.BooleanField(default=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_rooms",
    )
    created = models.DateTimeField(auto_now_add=True)
    # The seq counter: bumped in the transaction that stores a message, under this row's
    # lock, so seq never repeats (not even after the newest message is deleted).
    last_seq = models.PositiveBigIntegerField(default=0, editable=False)
    # When the last presence frame of this room went out (from any process): the
    # cluster-wide "at most one presence frame per room per WS_PRESENCE_INTERVAL".
    presence_flushed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Membership(models.Model):
    """One user on a room's whitelist."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="room_memberships",
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["room", "user"], name="chat_membership_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.room}"


class Message(models.Model):
    """A stored chat message; `seq` counts a room's messages 1, 2, 3, ... with no gap."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_messages"
    )
    seq = models.PositiveBigIntegerField()
    body = models.TextField()
    # NULL, not "", when absent: the unique constraint below only covers given ids.
    client_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["room", "seq"]
        constraints = [
            models.UniqueConstraint(
                fields=["room", "seq"], name="chat_message_room_seq"
            ),
            models.UniqueConstraint(
                fields=["user", "room", "client_id"],
                condition=Q(client_id__isnull=False),
                name="chat_message_client_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.room_id}#{self.seq}"


class AnnouncedPresence(models.Model):
    """A user the room's sockets were last told is online (the base of the next diff).

    The live truth is the plumbing's Connection rows (one per socket); this table holds
    what the presence frames have announced, so that any process can compute the next
    diff exactly once, whichever process holds the sockets or swept them.
    """

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="announced")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    since = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["room", "user"], name="chat_presence_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.room_id}"
