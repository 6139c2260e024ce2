"""`/api/server/`: the server API (integrations.api)."""

from django.urls import path

from integrations import api

urlpatterns = [
    path("publish/", api.PublishView.as_view(), name="server-publish"),
    path("notify/", api.NotifyView.as_view(), name="server-notify"),
    path("disconnect/", api.DisconnectView.as_view(), name="server-disconnect"),
]
