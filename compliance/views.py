"""Compliance report pages (Auditor and Administrator)."""
from django.shortcuts import render

from compliance.models import ComplianceReport
from secretsadmin.listing import paginate
from secretsadmin.permissions import permission_required


@permission_required("compliance.view_compliancereport")
def report_list(request):
    reports = ComplianceReport.objects.select_related("generated_by")
    return render(request, "compliance/report_list.html", {"page": paginate(request, reports)})
