"""API keys of the server API, webhooks, and the outbox of their deliveries."""

from __future__ import annotations

from django.db import models

#: what an API key may be allowed to do (PROTOCOL.md section 11)
SCOPES = ("publish", "notify", "disconnect")

#: the events a webhook may subscribe to
EVENTS = (
    "message.created",
    "message.updated",
    "member.added",
    "member.removed",
    "room.occupied",
    "room.vacated",
)


class ApiKey(models.Model):
    """A server API credential: only a SHA-256 of the key is kept (the key is random)."""

    name = models.CharField(max_length=100)
    # The key's public part, shown in the admin and used to find the row; the rest of the
    # key is secret and only its hash is stored.
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list)
    created = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    use_count = models.PositiveBigIntegerField(default=0, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name = "API key"
        permissions = [("revoke_apikey", "Can revoke API keys")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"


class Webhook(models.Model):
    """A URL that is POSTed the events it subscribes to, signed with its secret."""

    # Checked by integrations.addresses (an http(s) URL to public addresses), not by
    # URLValidator, which refuses hosts such as `backend:8080` a private network uses.
    url = models.CharField(max_length=2000)
    # Kept as is: it signs every body (an HMAC key cannot be stored hashed).
    secret = models.CharField(max_length=100, editable=False)
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event for one webhook: an outbox row written with the event, sent after commit.

    `body` is the exact JSON POSTed, so every attempt sends the same bytes with the same
    `id`; the signature is computed at each attempt with the webhook's secret.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    # No database constraint: chat's transactions write these rows, and a webhook deleted
    # by another process meanwhile must not fail a message's commit (deferred FK check).
    # Django still deletes a webhook's deliveries with it; the loop drops any orphan.
    webhook = models.ForeignKey(
        Webhook,
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_constraint=False,
    )
    event_id = models.CharField(max_length=32, editable=False)
    event = models.CharField(max_length=32, editable=False)
    body = models.TextField(editable=False)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # The delivery loop's one query: the pending rows that are due.
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="integrations_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.event_id} -> {self.webhook_id}"
