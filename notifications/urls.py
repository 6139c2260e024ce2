"""REST routes of the notify app (mounted under /api/)."""

from django.urls import path

from notifications import api

urlpatterns = [
    path(
        "notifications/", api.NotificationListView.as_view(), name="notification-list"
    ),
    path(
        "notifications/read-all/",
        api.NotificationReadAllView.as_view(),
        name="notification-read-all",
    ),
    path(
        "notifications/<int:pk>/read/",
        api.NotificationReadView.as_view(),
        name="notification-read",
    ),
]
