"""GET /metrics: every process's metrics in one scrape, for a bearer token or an allowed address only."""
import hmac
import ipaddress
import os

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from secretsadmin.metrics_archive import reading
from secretsadmin.posture import PostureCollector


def _bearer_ok(request):
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    return bool(settings.METRICS_TOKEN) and scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), settings.METRICS_TOKEN.encode())


def _address_ok(request):
    # REMOTE_ADDR only: a forwarded header is whatever the client wants it to be.
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network) for network in settings.METRICS_ALLOWED_NETWORKS)


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
    if not (_bearer_ok(request) or _address_ok(request)):
        answer = HttpResponse("Scraping /metrics needs the metrics bearer token or an allowed address.\n",
                              status=401 if settings.METRICS_TOKEN else 403, content_type="text/plain")
        if settings.METRICS_TOKEN:
            answer["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return answer
    with reading():  # the archiver must not fold files while this scrape reads them
        exposition = generate_latest(registry())
    return HttpResponse(exposition, content_type=CONTENT_TYPE_LATEST)
