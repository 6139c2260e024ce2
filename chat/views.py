"""Pages of the browser UI for rooms; live data comes from the REST API and the socket."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from chat import selectors
from chat.schemas import room_frame


@require_GET
@login_required
def room_list(request: HttpRequest) -> HttpResponse:
    """The rooms the user may enter, and the create-room form."""
    return render(request, "chat/room_list.html")


@require_GET
@login_required
def room_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """One room: live messages, scrollback, presence, composer, members, settings (owner)."""
    access = selectors.room_access(slug=slug, user=request.user)
    if access.room is None or not access.allowed:
        return render(
            request,
            "chat/room_unavailable.html",
            {"slug": slug, "missing": access.room is None},
            status=404 if access.room is None else 403,
        )
    room = access.room
    # A direct room is called by the other person, as in the sidebar (its stored name
    # is the two usernames); "@" marks it where other rooms show "#".
    peer = selectors.direct_peer(room=room, user=request.user)
    return render(
        request,
        "chat/room.html",
        {
            "room": room,
            "slug": room.slug,
            "is_owner": room.owner_id == request.user.pk,
            "label": peer.username if peer else (room.name or room.slug),
            "sigil": "@" if room.kind == "direct" else "#",
            "max_body_chars": settings.WS_MAX_BODY_CHARS,
            # What the `room` frame carries, for the page's script to start from.
            "room_settings": room_frame(room)["room"],
        },
    )
