"""Gives every request an id, and supplies request id, client IP and user agent to audit events."""
import re
import uuid

from django.conf import settings

from audit.context import audit_context

_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")


def client_ip(request):
    """REMOTE_ADDR, or the address the configured number of trusted proxies saw (X-Forwarded-For)."""
    proxies = settings.AUDIT_FORWARDED_PROXY_COUNT
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if proxies and len(forwarded) >= proxies:
        # Each trusted proxy appends what it saw; anything further left is client-supplied and forgeable.
        return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR")


class AuditContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _SAFE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        with audit_context(request_id=request.request_id, client_ip=client_ip(request),
                           user_agent=request.headers.get("User-Agent", "")):
            response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response
