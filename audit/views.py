"""Audit log pages (Auditor and Administrator): the filtered list, one event, exports and "Verify now"."""
import json
import logging

import django_rq
from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST, require_safe

from audit.chain import GENESIS_HASH
from audit.events import EVENT_TYPES
from audit.export import csv_lines, jsonl_lines
from audit.filters import AuditEventFilter
from audit.models import AuditEvent
from audit.recorder import record
from audit.services import latest_verification, verify_audit_chain_job
from audit.storage import AuditWriteError
from secretsadmin.forms import filter_querystring
from secretsadmin.listing import paginate
from secretsadmin.permissions import permission_required

log = logging.getLogger(__name__)

EXPORTS = {
    "csv": (csv_lines, "text/csv; charset=utf-8"),
    "jsonl": (jsonl_lines, "application/x-ndjson; charset=utf-8"),
}


@require_safe
@permission_required("audit.view_auditevent")
def event_list(request):
    # Details can be large and the list never shows them.
    filterset = AuditEventFilter(request.GET, queryset=AuditEvent.objects.defer("details"))
    valid = filterset.is_valid()
    # An invalid filter shows its errors and no rows: showing everything would look like a match.
    page = paginate(request, filterset.qs if valid else AuditEvent.objects.none())
    return render(request, "audit/event_list.html", {
        "filterset": filterset,
        "filters_valid": valid,
        "page": page,
        "querystring": filter_querystring(filterset),
        "verification": latest_verification(),
    })


def _content_matches_hash(event):
    try:
        return event.content_matches_hash()
    except Exception:
        # Odd stored data (hand-edited rows) must show as "cannot tell", never as a server error.
        log.warning("could not recompute the hash of audit event #%s", event.sequence, exc_info=True)
        return None


def _pretty_details(details):
    try:
        return json.dumps(details, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(details)


@require_safe
@permission_required("audit.view_auditevent")
def event_detail(request, uuid):
    event = get_object_or_404(AuditEvent, uuid=uuid)
    neighbours = AuditEvent.objects.only("uuid", "sequence", "hash")
    previous = neighbours.filter(sequence__lt=event.sequence).order_by("-sequence").first()
    following = neighbours.filter(sequence__gt=event.sequence).order_by("sequence").first()
    if previous is not None:
        links_to_previous = previous.sequence == event.sequence - 1 and previous.hash == event.prev_hash
    elif event.sequence == 1:
        links_to_previous = event.prev_hash == GENESIS_HASH
    else:
        links_to_previous = None  # the events before it were archived
    return render(request, "audit/event_detail.html", {
        "event": event,
        "event_description": EVENT_TYPES.get(event.event_type, "Unknown event type"),
        "details_json": _pretty_details(event.details),
        "content_matches": _content_matches_hash(event),
        "previous": previous,
        "following": following,
        "links_to_previous": links_to_previous,
        "verification": latest_verification(),
    })


@require_GET
@permission_required("audit.export_auditevent")
def export(request, export_format):
    lines, content_type = EXPORTS[export_format]
    filterset = AuditEventFilter(request.GET, queryset=AuditEvent.objects.all())
    if not filterset.is_valid():
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in filterset.errors.items())
        return HttpResponse(f"Invalid filter: {' '.join(problems.split())}\n", status=400,
                            content_type="text/plain; charset=utf-8")
    # Recorded (and committed) before the first row leaves: an export that fails half-way is still on record.
    try:
        record("audit.exported", actor=request.user,
               details={"format": export_format, "filters": filterset.cleaned_filters()})
    except AuditWriteError:
        # Fail closed: an export that cannot be put on record does not happen.
        return HttpResponse("The audit log cannot be written right now, so the export was not started.\n",
                            status=503, content_type="text/plain; charset=utf-8")
    # Oldest first, so an unfiltered JSON-lines export verifies as a chain.
    response = StreamingHttpResponse(lines(filterset.qs.order_by("sequence")), content_type=content_type)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{export_format}"'
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@permission_required("audit.verify_auditevent")
def verify_now(request):
    transaction.on_commit(lambda: django_rq.get_queue("default").enqueue(verify_audit_chain_job))
    messages.info(request, "Verification queued… the badge updates once a worker has checked the chain.")
    return redirect("audit:event_list")
