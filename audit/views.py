"""Audit log pages (Auditor and Administrator)."""
from django.shortcuts import render

from audit.models import AuditEvent
from secretsadmin.listing import paginate
from secretsadmin.permissions import permission_required


@permission_required("audit.view_auditevent")
def event_list(request):
    return render(request, "audit/event_list.html", {"page": paginate(request, AuditEvent.objects.all())})
