"""Django admin of the chat app: rooms and whitelists, messages, live connections.

Every write goes through chat.services (so sockets hear of it), and every action lands
in the admin log (LogEntry).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from chat import services
from chat.models import Membership, Message, MessageVersion, ReadPointer, Room
from chat.topics import ROUTE
from realtime.registry.models import Connection

ACTION_TEMPLATE = "chat/admin/action_form.html"
#: how many read pointers a room's page lists (the rest: the read pointer list)
READ_POINTERS_SHOWN = 50


class BroadcastForm(forms.Form):
    """The intermediate form of the broadcast action."""

    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=4000
    )


class KickForm(forms.Form):
    """The intermediate form of the kick action."""

    username = forms.CharField(max_length=150)

    def clean_username(self) -> Any:
        user = (
            get_user_model()
            .objects.filter(username=self.cleaned_data["username"])
            .first()
        )
        if user is None:
            raise ValidationError("No such user.")
        return user


def action_form(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[Any],
    form_class: type[forms.Form],
    title: str,
) -> tuple[forms.Form | None, HttpResponse | None]:
    """A bound, valid form once submitted; else the page that asks for it."""
    if "apply" in request.POST:
        form = form_class(request.POST)
        if form.is_valid():
            return form, None
    else:
        form = form_class()
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "objects": list(queryset),
        "action": request.POST.get("action", ""),
        "opts": modeladmin.model._meta,
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    }
    return None, TemplateResponse(request, ACTION_TEMPLATE, context)


class MembershipInline(admin.TabularInline):
    """The room's whitelist."""

    model = Membership
    extra = 1
    raw_id_fields = ["user"]
    readonly_fields = ["created"]


class DirectPairInline(MembershipInline):
    """A direct room's two users: shown, never changed (the pair is the room)."""

    extra = 0
    verbose_name_plural = "the direct room's two users (fixed)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def kick_each(
    model_admin: admin.ModelAdmin, request: HttpRequest, pairs: list[tuple[Room, Any]]
) -> int:
    """Revoke each (room, user) through the service, logged per room; how many went."""
    kicked = 0
    for room, user in pairs:
        try:
            services.membership_revoke(room=room, user=user)
        except ValidationError as exc:
            model_admin.message_user(
                request, f"{room}: {'; '.join(exc.messages)}", messages.ERROR
            )
            continue
        kicked += 1
        model_admin.log_change(
            request,
            room,
            f"Kicked {user.username} (whitelist entry removed, sockets closed with 4403)",
        )
    return kicked


class ArchivedFilter(admin.SimpleListFilter):
    """Archived (read-only) rooms, or the others."""

    title = "archived"
    parameter_name = "archived"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Archived"), ("no", "Not archived")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Room]) -> Any:
        if self.value() in ("yes", "no"):
            return queryset.filter(archived__isnull=self.value() == "no")
        return queryset


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    """Rooms with their whitelist inline; broadcast, kick and archive actions.

    `archived` is a time: set (any time: the service stamps now) archives the room,
    cleared unarchives it.
    """

    list_display = [
        "slug",
        "name",
        "kind",
        "owner",
        "last_seq",
        "online",
        "archived",
        "created",
    ]
    list_filter = ["kind", ArchivedFilter]
    search_fields = ["slug", "name", "owner__username"]
    raw_id_fields = ["owner"]
    # `kind` follows `is_private` (public or private); direct rooms come from /api/dms/.
    readonly_fields = ["kind", "last_seq", "created", "read_pointers"]
    exclude = ["direct_key"]
    inlines = [MembershipInline]
    actions = ["broadcast_system", "kick_user", "archive_rooms", "unarchive_rooms"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Room]:
        online = (
            Connection.objects.filter(route=ROUTE, room_key=OuterRef("slug"))
            .values("room_key")
            .annotate(n=Count("user_id", distinct=True))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .select_related("owner")
            .annotate(_online=Subquery(online))
        )

    def get_readonly_fields(
        self, request: HttpRequest, obj: Room | None = None
    ) -> list[str]:
        # Live sockets and presence rows name the room by slug: it never changes.
        if obj is None:
            return list(self.readonly_fields)
        if obj.kind == Room.Kind.DIRECT:
            return [*self.readonly_fields, "slug", "is_private", "owner"]
        return [*self.readonly_fields, "slug"]

    def get_inlines(self, request: HttpRequest, obj: Room | None) -> list[Any]:
        if obj is not None and obj.kind == Room.Kind.DIRECT:
            return [DirectPairInline]
        return list(self.inlines)

    @admin.display(description="read pointers")
    def read_pointers(self, room: Room) -> str:
        """The furthest-read users first (at most READ_POINTERS_SHOWN; all: the list)."""
        if room.pk is None:
            return "-"
        rows = (
            ReadPointer.objects.filter(room=room)
            .select_related("user")
            .order_by("-seq", "user__username")[:READ_POINTERS_SHOWN]
        )
        listed = format_html_join(
            "", "<li>{} read to {}</li>", ((p.user.username, p.seq) for p in rows)
        )
        every = (
            reverse("admin:chat_readpointer_changelist") + f"?room__id__exact={room.pk}"
        )
        return format_html(
            '<ul>{}</ul><a href="{}">every pointer of this room</a>', listed, every
        )

    @admin.display(description="online users", ordering="_online")
    def online(self, room: Room) -> int:
        return getattr(room, "_online", None) or 0

    def save_model(
        self, request: HttpRequest, obj: Room, form: Any, change: bool
    ) -> None:
        if change:
            current = Room.objects.get(pk=obj.pk)
            settings = {
                "name": obj.name,
                "topic": obj.topic,
                "archived": obj.archived is not None,
            }
            if current.kind == Room.Kind.DIRECT:
                updated = services.room_update(room=current, **settings)
            else:
                updated = services.room_update(
                    room=current,
                    is_private=obj.is_private,
                    owner=obj.owner,
                    **settings,
                )
            obj.last_seq, obj.archived = updated.last_seq, updated.archived
            return
        created = services.room_create(
            slug=obj.slug, name=obj.name, is_private=obj.is_private, owner=obj.owner
        )
        if obj.topic or obj.archived is not None:
            created = services.room_update(
                room=created, topic=obj.topic, archived=obj.archived is not None
            )
        obj.pk, obj.created, obj._state.adding = created.pk, created.created, False
        obj.archived = created.archived

    def save_formset(
        self, request: HttpRequest, form: Any, formset: Any, change: bool
    ) -> None:
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        room = form.instance
        if room.kind == Room.Kind.DIRECT:
            # The pair is fixed (its inline offers no change): nothing to log either.
            formset.new_objects = formset.changed_objects = formset.deleted_objects = []
            return None
        added, removed = [], []
        for inline in formset.forms:
            data = getattr(inline, "cleaned_data", None)
            if not data:
                continue
            original = inline.instance if inline.instance.pk else None
            user = data.get("user")
            replaced = (
                original is not None
                and user is not None
                and original.user_id != user.pk
            )
            if original is not None and (data.get("DELETE") or replaced):
                if self._revoke(request, room, original.user):
                    removed.append(original)
            if user is not None and not data.get("DELETE"):
                membership, created = services.membership_grant(room=room, user=user)
                if created:
                    added.append(membership)
        # What the admin log's change message lists.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = (
            added,
            [],
            removed,
        )

    def _revoke(self, request: HttpRequest, room: Room, user: Any) -> bool:
        try:
            services.membership_revoke(room=room, user=user)
        except ValidationError as exc:
            self.message_user(request, "; ".join(exc.messages), messages.ERROR)
            return False
        return True

    def delete_model(self, request: HttpRequest, obj: Room) -> None:
        services.room_delete(room=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Room]) -> None:
        for room in queryset:
            services.room_delete(room=room)

    # Both actions change what a room's sockets see: they take chat.change_room, so
    # view-only staff are neither offered them nor may post them.
    @admin.action(
        description="Broadcast a system message to the selected rooms",
        permissions=["change"],
    )
    def broadcast_system(self, request: HttpRequest, queryset: QuerySet[Room]) -> Any:
        form, page = action_form(
            self, request, queryset, BroadcastForm, "Broadcast a system message"
        )
        if form is None:
            return page
        body = form.cleaned_data["body"]
        for room in queryset:
            services.system_broadcast(room=room, body=body)
            self.log_change(request, room, f"Broadcast a system message: {body}")
        self.message_user(
            request, f"Broadcast to {len(queryset)} room(s).", messages.SUCCESS
        )
        return None

    @admin.action(
        description="Kick a user from the selected rooms", permissions=["change"]
    )
    def kick_user(self, request: HttpRequest, queryset: QuerySet[Room]) -> Any:
        form, page = action_form(self, request, queryset, KickForm, "Kick a user")
        if form is None:
            return page
        user = form.cleaned_data["username"]
        kicked = kick_each(self, request, [(room, user) for room in queryset])
        if kicked:
            self.message_user(
                request,
                f"Kicked {user.username} from {kicked} room(s).",
                messages.SUCCESS,
            )
        return None

    @admin.action(
        description="Archive the selected rooms (read-only)", permissions=["change"]
    )
    def archive_rooms(self, request: HttpRequest, queryset: QuerySet[Room]) -> None:
        self._set_archived(request, queryset, archived=True)

    @admin.action(description="Unarchive the selected rooms", permissions=["change"])
    def unarchive_rooms(self, request: HttpRequest, queryset: QuerySet[Room]) -> None:
        self._set_archived(request, queryset, archived=False)

    def _set_archived(
        self, request: HttpRequest, queryset: QuerySet[Room], *, archived: bool
    ) -> None:
        """Through the service (each room's sockets get a `room` frame), logged."""
        changed = 0
        for room in queryset:
            if (room.archived is not None) == archived:
                continue
            services.room_update(room=room, archived=archived)
            self.log_change(request, room, "Archived" if archived else "Unarchived")
            changed += 1
        verb = "Archived" if archived else "Unarchived"
        self.message_user(request, f"{verb} {changed} room(s).", messages.SUCCESS)


@admin.register(ReadPointer)
class ReadPointerAdmin(admin.ModelAdmin):
    """Read pointers, per room and user: seen here, moved only by reading."""

    list_display = ["room", "user", "seq", "updated"]
    list_filter = [("room", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["room__slug", "user__username"]
    list_select_related = ["room", "user"]
    ordering = ["room__slug", "-seq"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MessageVersionInline(admin.TabularInline):
    """A message's earlier bodies (edits, and the body a delete removed): read-only."""

    model = MessageVersion
    fields = ["body", "created", "replaced"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """Messages, searchable by room, user and text; deleting one leaves a tombstone
    (services.message_delete) and tells the room's sockets."""

    list_display = [
        "room",
        "seq",
        "user",
        "preview",
        "client_id",
        "created",
        "edited",
        "deleted",
    ]
    list_filter = [("room", admin.RelatedOnlyFieldListFilter), "deleted"]
    search_fields = ["room__slug", "room__name", "user__username", "body"]
    list_select_related = ["room", "user"]
    readonly_fields = [
        "room",
        "user",
        "seq",
        "body",
        "client_id",
        "created",
        "rev",
        "edited",
        "deleted",
        "reply_to",
    ]
    ordering = ["-created", "-pk"]
    inlines = [MessageVersionInline]
    actions = ["tombstone_selected"]

    @admin.display(description="body")
    def preview(self, message: Message) -> str:
        return Truncator(message.body).chars(80)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # messages are posted through the socket, REST or a command

    def has_change_permission(
        self, request: HttpRequest, obj: Message | None = None
    ) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: Message) -> None:
        services.message_delete(message=obj, by=request.user)

    def delete_queryset(
        self, request: HttpRequest, queryset: QuerySet[Message]
    ) -> None:
        for message in queryset:
            services.message_delete(message=message, by=request.user)

    @admin.action(
        description="Delete the selected messages (leave tombstones)",
        permissions=["delete"],
    )
    def tombstone_selected(
        self, request: HttpRequest, queryset: QuerySet[Message]
    ) -> None:
        done = 0
        for message in queryset.filter(deleted=False):
            services.message_delete(message=message, by=request.user)
            done += 1
        self.message_user(request, f"Deleted {done} message(s).", messages.SUCCESS)


class ConnectionAdmin(admin.ModelAdmin):
    """Live sockets (the registry rows): who is connected where, on which process."""

    list_display = ["id", "user", "route", "room_key", "process", "opened"]
    list_filter = ["route", "room_key"]
    search_fields = ["user__username", "room_key", "id"]
    list_select_related = ["user", "process"]
    actions = ["kick_from_room"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # removing a row would not close its socket: kick instead

    def has_kick_permission(self, request: HttpRequest) -> bool:
        # The registry is read-only here, but the kick is a change to the room.
        return request.user.has_perm("chat.change_room")

    @admin.action(
        description="Kick the selected users from these chat rooms",
        permissions=["kick"],
    )
    def kick_from_room(
        self, request: HttpRequest, queryset: QuerySet[Connection]
    ) -> None:
        pairs = set(queryset.filter(route=ROUTE).values_list("room_key", "user_id"))
        rooms = {
            r.slug: r for r in Room.objects.filter(slug__in={slug for slug, _ in pairs})
        }
        users = get_user_model().objects.in_bulk({user_id for _, user_id in pairs})
        found = [
            (rooms.get(slug), users.get(user_id)) for slug, user_id in sorted(pairs)
        ]
        kicked = kick_each(
            self, request, [(room, user) for room, user in found if room and user]
        )
        self.message_user(request, f"{kicked} kick(s) done.", messages.SUCCESS)


if not admin.site.is_registered(Connection):
    admin.site.register(Connection, ConnectionAdmin)
