"""Liveness (/healthz) and readiness (/readyz) probes: no login, no stack traces, component names only."""
import logging

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

log = logging.getLogger(__name__)


@login_not_required
@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


def _check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_redis():
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


READINESS_CHECKS = {"database": _check_database, "redis": _check_redis}


@login_not_required
@never_cache
@require_GET
def readyz(request):
    failing = []
    for component, check in READINESS_CHECKS.items():
        try:
            check()
        except Exception:
            # The details go to the log for operators; the probe answer names only the component.
            log.warning("readiness check failed: %s", component, exc_info=True)
            failing.append(component)
    if failing:
        return JsonResponse({"status": "unavailable", "failing": failing}, status=503)
    return JsonResponse({"status": "ok", "checks": list(READINESS_CHECKS)})
