"""/metrics answered ahead of host validation and the HTTPS redirect: scrapers reach replicas by address.

Prometheus scrapes each web replica by its own address (a pod IP, a Compose container name) over the private
network, so the Host header is never one of ALLOWED_HOSTS and the request is plain HTTP: the rest of the stack
would answer 400 or redirect to HTTPS, and no replica could be scraped. The view checks the bearer token or the
peer address itself (secretsadmin.metrics_access); nothing else is served this way.
"""
from secretsadmin.metrics_view import metrics

PATH = "/metrics"


class MetricsEndpointMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == PATH:
            return metrics(request)
        return self.get_response(request)
