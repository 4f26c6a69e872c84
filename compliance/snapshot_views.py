"""Report snapshot pages: the list, the "Generate report" form, a snapshot's page (live progress) and its downloads.

Thin: the rules live in compliance.snapshots. A missing permission is a 403 before the service is called; anything
the service refuses is a form error (400) or a message.
"""
from django import forms
from django.contrib import messages
from django.db.models import F
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from compliance.catalog import FRAMEWORK_SLUGS, get_framework
from compliance.exports import FORMATS
from compliance.forms import DateInput, default_period
from compliance.models import ComplianceReport
from compliance.snapshots import ADD, EXPORT, SnapshotRefused, export_snapshot, period_problems, request_snapshot
from secretsadmin.forms import BootstrapFormMixin
from secretsadmin.listing import paginate
from secretsadmin.permissions import (
    get_object_for_user_or_404,
    has_permission,
    permission_required,
    require_permission,
)

VIEW = "compliance.view_compliancereport"
# The list never reads the frozen documents (megabytes each): only what its columns show.
LIST_FIELDS = ("uuid", "framework", "period_start", "period_end", "status", "requested_at", "generated_by_name",
               "generated_at", "sha256", "progress_done", "progress_total", "superseded_by", "summary", "error")


def framework_choices():
    return [(slug, f"{get_framework(slug).name} {get_framework(slug).version}") for slug in FRAMEWORK_SLUGS]


class SnapshotForm(BootstrapFormMixin, forms.Form):
    framework = forms.ChoiceField(choices=())
    period_start = forms.DateField(label="From", widget=DateInput(format="%Y-%m-%d"))
    period_end = forms.DateField(label="To (inclusive)", widget=DateInput(format="%Y-%m-%d"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["framework"].choices = framework_choices()
        self.fields["period_start"].initial, self.fields["period_end"].initial = default_period()

    def clean(self):
        data = super().clean()
        if not self.errors:  # the same rules as the report pages' period selector
            for field, message in period_problems(data["framework"], data["period_start"],
                                                  data["period_end"]).items():
                self.add_error(field, message)
        return data


def _snapshot_or_404(request, uuid, *, fields=None):
    queryset = ComplianceReport.objects.annotate(superseded_by_uuid=F("superseded_by__uuid"))
    if fields:
        queryset = queryset.only(*fields)
    return get_object_for_user_or_404(request.user, VIEW, queryset, uuid=uuid)


@require_safe
@permission_required(VIEW)
def snapshot_list(request):
    reports = ComplianceReport.objects.only(*LIST_FIELDS).annotate(superseded_by_uuid=F("superseded_by__uuid"))
    return render(request, "compliance/report_list.html", {
        "page": paginate(request, reports),
        "can_generate": has_permission(request.user, ADD),
    })


@require_http_methods(["GET", "POST"])
@permission_required(ADD)
def snapshot_create(request):
    form = SnapshotForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            report = request_snapshot(data["framework"], period_start=data["period_start"],
                                      period_end=data["period_end"], actor=request.user)
        except SnapshotRefused as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Report queued: it is generated in the background.")
            return redirect(report.get_absolute_url())
    status = 400 if request.method == "POST" else 200
    return render(request, "compliance/snapshot_form.html", {"form": form}, status=status)


def _status_context(report):
    return {"report": report}


@require_safe
def snapshot_detail(request, uuid):
    report = _snapshot_or_404(request, uuid)
    content = report.frozen_content()
    context = _status_context(report)
    context.update({
        "inputs": content.get("inputs") or {},
        "results": content.get("results") or {},
        "formats": [(key, spec.label) for key, spec in FORMATS.items()],
        "can_export": has_permission(request.user, EXPORT),
        "can_generate": has_permission(request.user, ADD),
    })
    return render(request, "compliance/snapshot_detail.html", context)


@require_safe
def snapshot_status(request, uuid):
    """The live part of a snapshot's page, polled by htmx while it is queued or running."""
    report = _snapshot_or_404(request, uuid, fields=LIST_FIELDS)
    response = render(request, "compliance/_snapshot_status.html", _status_context(report))
    if request.headers.get("HX-Request") and not report.is_open:
        response["HX-Refresh"] = "true"  # finished: reload the page once, for the results and the downloads
    return response


@require_safe
def snapshot_download(request, uuid):
    report = _snapshot_or_404(request, uuid, fields=(*LIST_FIELDS, "frozen"))
    require_permission(request.user, EXPORT)
    if not report.is_ready:
        messages.warning(request, f"This report is {report.get_status_display().lower()}: downloads open once "
                                  "it is ready.")
        return redirect(report.get_absolute_url())
    export_format = request.GET.get("format", "")
    if export_format not in FORMATS:
        return HttpResponseBadRequest(f"Unknown export format; choose one of {', '.join(FORMATS)}.",
                                      content_type="text/plain; charset=utf-8")
    try:
        export = export_snapshot(report, export_format, actor=request.user)
    except SnapshotRefused as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
    response = HttpResponse(export.content, content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["Cache-Control"] = "no-store"
    return response
