"""`/healthz`, `/readyz` and `/metrics`."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any

from asgiref.sync import markcoroutinefunction, sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from realtime.fanout.hub import hub
from realtime.web import metrics

log = logging.getLogger("realtime.health")


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: 200 while the process serves."""
    return JsonResponse({"status": "ok"})


#: seconds /readyz waits for the database: a probe must answer fast, and a dead database
#: would otherwise hold it for the whole pool timeout (DB_POOL_TIMEOUT, 10 s)
READY_DB_TIMEOUT = 2.0


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        log.warning("readiness: database check failed: %s", type(exc).__name__)
        return False
    finally:
        connection.close()  # this worker thread's connection goes back (to the pool)
    return True


async def _database_ready() -> bool:
    # Off the shared sync thread: a hanging database must not stall every other
    # database_sync_to_async call of the process while the probe waits.
    check = sync_to_async(_database_ok, thread_sensitive=False)
    try:
        return await asyncio.wait_for(check(), READY_DB_TIMEOUT)
    except TimeoutError:
        log.warning("readiness: database check timed out")
        return False


async def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness (PROTOCOL.md section 2): 200 while the database answers; 503 naming what
    fails when it does not, and while draining.

    The channel layer being down is degraded mode, not unreadiness: the process still
    stores, acknowledges and delivers to its own sockets, and a Redis blip failing every
    pod's probe at once would take the whole service out of rotation. So it is 200
    `{"status":"degraded","degraded":["channel_layer"]}`; alerts watch `realtime_degraded`.
    """
    failing: list[str] = []
    if hub.draining:
        failing.append("draining")
    if not await _database_ready():
        failing.append("database")
    degraded = [] if await _layer_ready() else ["channel_layer"]
    metrics.READY.set(0 if failing else 1)
    if failing:
        body: dict[str, Any] = {"status": "unavailable", "failing": failing}
        if degraded:
            body["degraded"] = degraded
        return JsonResponse(body, status=503)
    if degraded:
        return JsonResponse({"status": "degraded", "degraded": degraded})
    return JsonResponse({"status": "ready"})


async def _layer_ready() -> bool:
    return not hub.degraded and await hub.check_layer()


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
        return JsonResponse(
            {"detail": "metrics are not served to this address"}, status=403
        )
    try:
        _pool_stats()
    except Exception:
        log.debug("pool stats unavailable")
    metrics.DRAINING.set(1 if hub.draining else 0)
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)


class ProbeMiddleware:
    """Answers the probes before anything checks the Host header.

    Kubernetes probes and Prometheus scrapes come as `Host: <pod IP>:8000`, which
    ALLOWED_HOSTS rightly refuses elsewhere; these three paths reveal nothing host-bound.
    """

    sync_capable = False
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path == "/healthz":
            return healthz(request)
        if path == "/readyz":
            return await readyz(request)
        if path == "/metrics":
            return await sync_to_async(metrics_view)(request)
        return await self.get_response(request)
