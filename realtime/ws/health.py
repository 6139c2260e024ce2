"""`/healthz`, `/readyz` and `/metrics`."""

from __future__ import annotations

import ipaddress
import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from realtime.ws import metrics
from realtime.ws.hub import hub

log = logging.getLogger("realtime.health")


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: 200 while the process serves."""
    return JsonResponse({"status": "ok"})


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        log.warning("readiness: database check failed: %s", type(exc).__name__)
        return False
    return True


async def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when the database and channel layer answer; 503 naming what fails."""
    from asgiref.sync import sync_to_async

    failing: list[str] = []
    if hub.draining:
        failing.append("draining")
    if not await sync_to_async(_database_ok)():
        failing.append("database")
    if hub.degraded or not await hub.check_layer():
        failing.append("channel_layer")
    metrics.READY.set(0 if failing else 1)
    if failing:
        return JsonResponse({"status": "unavailable", "failing": failing}, status=503)
    return JsonResponse({"status": "ready"})


def _client_allowed(request: HttpRequest) -> bool:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in net for net in settings.METRICS_ALLOWED_CIDRS)


def _pool_stats() -> None:
    pool = getattr(connection, "pool", None)
    if pool is None:
        return
    stats = pool.get_stats()
    size = stats.get("pool_size", 0)
    idle = stats.get("pool_available", 0)
    metrics.DB_POOL.labels(state="in_use").set(size - idle)
    metrics.DB_POOL.labels(state="idle").set(idle)
    metrics.DB_POOL.labels(state="max").set(pool.max_size)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for clients on METRICS_ALLOWED_CIDRS only."""
    if not _client_allowed(request):
        return JsonResponse({"detail": "metrics are not served to this address"}, status=403)
    try:
        _pool_stats()
    except Exception:
        log.debug("pool stats unavailable")
    metrics.DRAINING.set(1 if hub.draining else 0)
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
