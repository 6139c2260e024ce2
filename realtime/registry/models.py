"""The connection registry: which server process holds which socket, and the processes' leases."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ServerProcess(models.Model):
    """A serving process; it renews `lease_until`, and survivors sweep it when that runs out."""

    id = models.CharField(primary_key=True, max_length=64)
    hostname = models.CharField(max_length=255)
    pid = models.IntegerField()
    started = models.DateTimeField(auto_now_add=True)
    lease_until = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid} ({self.id})"


class Connection(models.Model):
    """One live socket: the presence row (chat) and the per-user connection count."""

    id = models.CharField(
        primary_key=True, max_length=64
    )  # the connection id clients see
    process = models.ForeignKey(
        ServerProcess, on_delete=models.CASCADE, related_name="connections"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="socket_connections",
    )
    route = models.CharField(max_length=32)  # "chat", "notify"
    room_key = models.CharField(
        max_length=100, blank=True, default=""
    )  # chat: the room slug
    opened = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["route", "room_key", "user"]),
            models.Index(fields=["user"], name="ws_connection_user_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.route}:{self.room_key} user={self.user_id} ({self.id})"


class Outbox(models.Model):
    """Events from a process that serves no sockets (a command) to the one that does, embedded mode."""

    topic = models.CharField(max_length=100)
    payload = models.JSONField()
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"{self.topic} #{self.pk}"
