"""Per-user notifications: stored first, pushed live after commit, read state per row."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Notification(models.Model):
    """One notification for one user; `read_at` is null while unread."""

    class Level(models.TextChoices):
        INFO = "info", "Info"
        SUCCESS = "success", "Success"
        WARNING = "warning", "Warning"
        ERROR = "error", "Error"

    # The composite indexes below start with the user, so the FK's own index is redundant.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        db_index=False,
    )
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, default="", max_length=4000)
    level = models.CharField(max_length=16, choices=Level.choices, default=Level.INFO)
    link = models.CharField(max_length=500, blank=True, default="")
    # One explicit timestamp (not auto_now_add) so a bulk send stamps every row alike.
    created = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            # unread count and backlog: user = ? AND read_at IS NULL ORDER BY created DESC, id DESC
            models.Index(
                fields=["user", "read_at", "-created", "-id"],
                name="notif_user_read_created",
            ),
            # the full list, newest first
            models.Index(fields=["user", "-created", "-id"], name="notif_user_created"),
            # the admin's date filter and pruning
            models.Index(fields=["created"], name="notif_created"),
        ]

    def __str__(self) -> str:
        return f"{self.title} -> {self.user_id}"

    @property
    def is_read(self) -> bool:
        """Whether the user has read it."""
        return self.read_at is not None
