"""Who may scrape metrics: the bearer token or an allowed address (the web's /metrics and the worker exporter)."""
import hmac
import ipaddress

from django.conf import settings


def bearer_ok(authorization):
    scheme, _, presented = (authorization or "").partition(" ")
    return bool(settings.METRICS_TOKEN) and scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), settings.METRICS_TOKEN.encode())


def address_ok(remote_addr):
    # The peer's address only: a forwarded header is whatever the client wants it to be.
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network) for network in settings.METRICS_ALLOWED_NETWORKS)


def scrape_allowed(authorization, remote_addr):
    return bearer_ok(authorization) or address_ok(remote_addr)


def refusal():
    """(status, headers, body) for a scraper that may not: 401 with a challenge when a token is configured."""
    body = b"Scraping metrics needs the metrics bearer token or an allowed address.\n"
    if settings.METRICS_TOKEN:
        return 401, [("WWW-Authenticate", 'Bearer realm="metrics"')], body
    return 403, [], body
