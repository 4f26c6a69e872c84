"""Refuses request bodies over MAX_REQUEST_BODY_BYTES with 413 before any view, form or session reads them."""
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse


def too_large() -> HttpResponse:
    limit = settings.MAX_REQUEST_BODY_BYTES
    return HttpResponse(f"Request body too large: the limit is {limit} bytes.\n", status=413,
                        content_type="text/plain; charset=utf-8")


def is_too_large(exception) -> bool:
    """For the 400 handler: Django raises RequestDataTooBig (a 400 by default) when a body outgrows
    DATA_UPLOAD_MAX_MEMORY_SIZE while it is read."""
    return isinstance(exception, RequestDataTooBig)


class RequestSizeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        declared = request.META.get("CONTENT_LENGTH") or ""
        if not declared and request.META.get("HTTP_TRANSFER_ENCODING"):
            # A body of unknown length: Django would read none of it, and measuring it means reading it.
            return HttpResponse("A request body must declare its length (Content-Length).\n", status=411,
                                content_type="text/plain; charset=utf-8")
        try:
            length = int(declared or 0)
        except ValueError:
            return HttpResponse("Invalid Content-Length.\n", status=400, content_type="text/plain; charset=utf-8")
        if length > settings.MAX_REQUEST_BODY_BYTES:
            return too_large()
        return self.get_response(request)
