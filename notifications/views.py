"""Pages of the browser UI for notifications; the data comes from the REST API."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    """All of the user's notifications, with mark read and mark all read."""
    return render(request, "notifications/list.html")
