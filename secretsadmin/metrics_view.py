"""GET /metrics: every process's metrics in one scrape, for a bearer token or an allowed address only."""
import os

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from secretsadmin.metrics_access import refusal, scrape_allowed
from secretsadmin.metrics_archive import reading
from secretsadmin.posture import PostureCollector


def registry():
    """This process's registry, or (multiprocess mode) one reading every process's files; plus the posture."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)
    else:
        collected = CollectorRegistry()
        collected.register(_Forward(REGISTRY))
    collected.register(PostureCollector())
    return collected


class _Forward:
    """The default registry's metrics inside another registry (so the posture gauges can be added alone)."""

    def __init__(self, source):
        self.source = source

    def collect(self):
        return self.source.collect()


@login_not_required
@require_safe
@never_cache
def metrics(request):
    if not scrape_allowed(request.headers.get("Authorization", ""), request.META.get("REMOTE_ADDR", "")):
        status, headers, body = refusal()
        answer = HttpResponse(body, status=status, content_type="text/plain")
        for name, value in headers:
            answer[name] = value
        return answer
    with reading():  # the archiver must not fold files while this scrape reads them
        exposition = generate_latest(registry())
    return HttpResponse(exposition, content_type=CONTENT_TYPE_LATEST)
