"""Admin: the notifications list, and the user-list action "send notification to selected users"."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from accounts.admin import AccountUserAdmin
from notifications import selectors, services
from notifications.models import Notification


class ReadFilter(admin.SimpleListFilter):
    """Read / unread."""

    title = "read"
    parameter_name = "read"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("1", "Read"), ("0", "Unread")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "1":
            return queryset.filter(read_at__isnull=False)
        if self.value() == "0":
            return queryset.filter(read_at__isnull=True)
        return queryset


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """Browse and delete; sending goes through the user list's action (it pushes live)."""

    list_display = ["id", "user", "title", "level", "is_read", "created"]
    list_filter = ["level", ReadFilter, "created"]
    search_fields = ["title", "body", "user__username"]
    date_hierarchy = "created"
    list_select_related = ["user"]
    readonly_fields = ["user", "title", "body", "level", "link", "created", "read_at"]
    ordering = ["-created", "-id"]
    show_full_result_count = False  # COUNT(*) of a big table on every page is not free

    @admin.display(boolean=True, description="read", ordering="read_at")
    def is_read(self, obj: Notification) -> bool:
        return obj.read_at is not None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a row added here would not be pushed: use the user-list action

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SendNotificationForm(forms.Form):
    """The action's intermediate form."""

    title = forms.CharField(max_length=200)
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), required=False, max_length=4000
    )
    level = forms.ChoiceField(
        choices=Notification.Level.choices, initial=Notification.Level.INFO
    )
    link = forms.CharField(max_length=500, required=False)


def may_send(request: HttpRequest) -> bool:
    """The `send_notification` permission of an admin offering the send action."""
    return selectors.user_may_send_notifications(user=request.user)


@admin.action(
    description="Send notification to selected users",
    # The admin offers and runs it only where has_send_notification_permission() is
    # true (NotifyingUserAdmin below).
    permissions=["send_notification"],
)
def send_notification_to_users(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
) -> HttpResponse | None:
    """Ask for title, body and level; then one bulk send, logged on each user."""
    form = SendNotificationForm(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        user_ids = list(queryset.values_list("pk", flat=True))
        try:
            count = services.notifications_create_bulk(
                user_ids=user_ids,
                title=data["title"],
                body=data["body"],
                level=data["level"],
                link=data["link"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            LogEntry.objects.log_actions(
                user_id=request.user.pk,
                queryset=queryset.model._default_manager.filter(pk__in=user_ids),
                action_flag=CHANGE,
                change_message=f"Sent notification “{data['title']}” ({data['level']}).",
            )
            modeladmin.message_user(
                request, f"Sent “{data['title']}” to {count} users.", messages.SUCCESS
            )
            return None
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Send notification to selected users",
        "opts": opts,
        "form": form,
        "queryset": queryset,
        "count": queryset.count(),
        "select_across": request.POST.get("select_across", "0"),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "action_name": "send_notification_to_users",
        "media": modeladmin.media,
    }
    return TemplateResponse(request, "notifications/admin_send.html", context)


class NotifyingUserAdmin(AccountUserAdmin):
    """The accounts app's user admin, with this app's "send notification" action."""

    actions = [*AccountUserAdmin.actions, send_notification_to_users]

    def has_send_notification_permission(self, request: HttpRequest) -> bool:
        return may_send(request)


# The base app knows no feature app: this one puts its action on the user list itself.
admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), NotifyingUserAdmin)
