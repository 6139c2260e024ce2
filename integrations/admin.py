"""Admin: API keys (list, usage, revoke), webhooks (made, changed, deleted through the
services), and their deliveries' attempts (status, attempts, last error, next attempt)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from integrations import addresses, services
from integrations.models import EVENTS, ApiKey, Webhook, WebhookDelivery


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are made by `manage.py create_api_key` (the key is shown once, there)."""

    list_display = [
        "name",
        "prefix",
        "scope_list",
        "created",
        "last_used_at",
        "use_count",
        "revoked_at",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "created"]
    search_fields = ["name", "prefix"]
    readonly_fields = list_display
    fields = list_display
    actions = ["revoke"]

    @admin.display(description="scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the key must be shown once: manage.py create_api_key

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("integrations.revoke_apikey")

    @admin.action(description="Revoke selected API keys", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = services.api_key_revoke(key_ids=queryset.values_list("pk", flat=True))
        self.message_user(request, f"Revoked {count} API keys.", messages.SUCCESS)


class WebhookForm(forms.ModelForm):
    """URL (checked as the service checks it), events, active."""

    url = forms.CharField(max_length=2000)
    events = forms.MultipleChoiceField(
        choices=[(e, e) for e in EVENTS], widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Webhook
        fields = ["url", "events", "active"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if self.instance.pk is None or url != self.instance.url:
            try:
                addresses.check_url(url)
            except ValidationError as exc:
                raise ValidationError(
                    exc.message_dict.get("url", exc.messages)
                ) from None
        return url


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    """Webhooks; a new one's secret is shown once, on the page after it is made."""

    form = WebhookForm
    list_display = ["url", "event_list", "active", "created", "deliveries_link"]
    list_filter = ["active"]
    search_fields = ["url"]

    @admin.display(description="events")
    def event_list(self, obj: Webhook) -> str:
        return ", ".join(obj.events)

    @admin.display(description="deliveries")
    def deliveries_link(self, obj: Webhook) -> str:
        from django.utils.html import format_html

        url = reverse("admin:integrations_webhookdelivery_changelist")
        return format_html(
            '<a href="{}?webhook__id__exact={}">attempts</a>', url, obj.pk
        )

    def save_model(
        self, request: HttpRequest, obj: Webhook, form: Any, change: bool
    ) -> None:
        data = form.cleaned_data
        if change:
            services.webhook_update(
                webhook=obj,
                url=data["url"],
                events=data["events"],
                active=data["active"],
            )
            return
        row, secret = services.webhook_create(
            url=data["url"], events=data["events"], active=data["active"]
        )
        obj.pk, obj.secret, obj.created = row.pk, row.secret, row.created
        request.webhook_secret = secret  # type: ignore[attr-defined]

    def delete_model(self, request: HttpRequest, obj: Webhook) -> None:
        services.webhooks_delete(webhook_ids=[obj.pk])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        services.webhooks_delete(
            webhook_ids=list(queryset.values_list("pk", flat=True))
        )

    def response_add(
        self, request: HttpRequest, obj: Webhook, post_url_continue: Any = None
    ) -> HttpResponse:
        # Rendered here, not put in a message: messages may travel in a cookie.
        context = {
            **self.admin_site.each_context(request),
            "title": "Webhook created",
            "opts": self.model._meta,
            "webhook": obj,
            "secret": getattr(request, "webhook_secret", ""),
            "change_url": reverse("admin:integrations_webhook_change", args=[obj.pk]),
        }
        return TemplateResponse(
            request, "admin/integrations/webhook_created.html", context
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """Each event for each webhook, with its attempts."""

    list_display = [
        "id",
        "webhook",
        "event",
        "event_id",
        "status",
        "attempts",
        "last_status",
        "last_error",
        "next_attempt_at",
        "created",
        "delivered_at",
    ]
    list_filter = ["status", "event", "created"]
    search_fields = ["event_id"]
    list_select_related = ["webhook"]
    readonly_fields = [*list_display, "last_attempt_at", "body"]
    fields = readonly_fields
    actions = ["retry_now"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("integrations.change_webhookdelivery")

    @admin.action(description="Retry selected deliveries now", permissions=["retry"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = services.webhook_deliveries_retry(
            delivery_ids=queryset.values_list("pk", flat=True)
        )
        self.message_user(request, f"{count} deliveries are due now.", messages.SUCCESS)
