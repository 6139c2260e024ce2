"""URLs of the whole project: pages, the API of each app, health, metrics, schema, admin."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

# Registers every socket route, so the AsyncAPI document lists them (socket_path()).
from realtime import routing  # noqa: F401
from realtime.web import asyncapi, health

handler400 = "realtime.web.http.json_or_page_400"
handler403 = "realtime.web.http.json_or_page_403"
handler404 = "realtime.web.http.json_or_page_404"
handler500 = "realtime.web.http.json_or_page_500"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics_view, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script from a URL: no inline script (CSP).
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="schema", template_name="api_docs.html"
        ),
        name="api-docs",
    ),
    path("api/asyncapi.json", asyncapi.asyncapi_json, name="asyncapi-json"),
    path("api/asyncapi/", asyncapi.asyncapi_page, name="asyncapi-page"),
    path("api/auth/", include("accounts.urls")),
    path("api/", include("chat.urls")),
    path("api/", include("notifications.urls")),
    path("api/server/", include("integrations.urls")),
    path("admin/", admin.site.urls),
    path("", include("accounts.pages")),
    path("", include("chat.pages")),
    path("", include("notifications.pages")),
]
