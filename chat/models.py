"""Rooms, their whitelist, messages with a gapless per-room seq, and announced presence."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Room(models.Model):
    """A chat room; private rooms admit only the users on their whitelist (Membership).

    `kind` says how users belong to it (PROTOCOL.md 9): a public room by joining (Joined),
    a private room by its whitelist, a direct room by its two fixed whitelisted users.
    `is_private` is kept in step (true for private and direct) so every access check
    reads one column.
    """

    class Kind(models.TextChoices):
        PUBLIC = "public"
        PRIVATE = "private"
        DIRECT = "direct"

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    is_private = models.BooleanField(default=False)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.PUBLIC)
    # A direct room's pair, "<smaller user id>:<larger user id>": one room per pair.
    direct_key = models.CharField(  # noqa: DJ001
        max_length=41, null=True, blank=True, unique=True, editable=False
    )
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
    # The change counter (PROTOCOL.md 10): bumped in the transaction that edits, deletes
    # or reacts to one of its messages, which is stamped with the new value.
    rev = models.PositiveBigIntegerField(default=0, editable=False)
    topic = models.CharField(max_length=250, blank=True, default="")
    # An archived room is read-only: its history stays, nothing new is posted.
    archived = models.DateTimeField(null=True, blank=True)
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
    # The room's rev when this message last changed (0: never changed since stored).
    rev = models.PositiveBigIntegerField(default=0)
    edited = models.DateTimeField(null=True, blank=True)
    # A tombstone: same id and seq, no body, no reactions (PROTOCOL.md 10).
    deleted = models.BooleanField(default=False)
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["room", "seq"]
        indexes = [models.Index(fields=["room", "rev"], name="chat_message_room_rev")]
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


class Joined(models.Model):
    """A user who belongs to a public room (joined it, or posted in it)."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="joined")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="joined_rooms"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "joined"
        constraints = [
            models.UniqueConstraint(fields=["user", "room"], name="chat_joined_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} joined {self.room}"


class ReadPointer(models.Model):
    """How far a user has read a room: only moves forward, never past room.last_seq.

    Invariant the unread count rests on: a user's own messages in a room all have
    seq <= their pointer there (storing a message moves its sender's pointer to it).
    """

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="pointers")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="read_pointers"
    )
    seq = models.PositiveBigIntegerField(default=0)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "room"], name="chat_read_pointer_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} read {self.room} to {self.seq}"


class DeletedSeq(models.Model):
    """The seq of a deleted message: unread counts subtract these (chat.selectors)."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    seq = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="chat_deleted_seq")
        ]

    def __str__(self) -> str:
        return f"{self.room_id}#{self.seq} deleted"


class Mention(models.Model):
    """`@user` in a message, for a user who may read its room (not its author)."""

    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="mentions"
    )
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    seq = models.PositiveBigIntegerField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mentions"
    )

    class Meta:
        indexes = [
            models.Index(fields=["user", "room", "seq"], name="chat_mention_user_seq")
        ]

    def __str__(self) -> str:
        return f"@{self.user_id} in {self.room_id}#{self.seq}"


class MessageVersion(models.Model):
    """An earlier body of an edited message, kept when the edit replaced it."""

    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="versions"
    )
    body = models.TextField()
    # When this body was written (the message's creation or the edit before).
    created = models.DateTimeField()
    # When the edit replaced it.
    replaced = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["message", "id"]

    def __str__(self) -> str:
        return f"{self.message_id} v{self.pk}"


class Reaction(models.Model):
    """One user's emoji on one message (a toggle: present or not)."""

    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="reactions"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    emoji = models.CharField(max_length=16)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["message", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "user", "emoji"], name="chat_reaction_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.emoji} on {self.message_id}"
