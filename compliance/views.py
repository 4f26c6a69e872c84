"""Compliance pages (Auditor and Administrator): overview, one framework's controls, one control, the cross-walk."""
from django.shortcuts import render
from django.views.decorators.http import require_safe

from compliance.catalog import FRAMEWORK_SLUGS, UnknownFramework, catalog, crosswalk, get_framework
from compliance.checks import CHECKS
from compliance.evaluate import build_control, build_report, build_reports
from compliance.forms import STATUS_LABELS, FrameworkFilterForm, PeriodForm
from compliance.thresholds import resolve
from secretsadmin.permissions import permission_required

PERMISSION = "compliance.view_compliancereport"
ISO_2013 = "iso27001-2013"


def _not_found(request, message):
    return render(request, "compliance/not_found.html", {"message": message}, status=404)


def _invalid(request, template, context):
    # The form shows what is wrong; no report is computed for a period that cannot be reported on.
    return render(request, template, context, status=400)


@require_safe
@permission_required(PERMISSION)
def overview(request):
    form = PeriodForm(request.GET)
    context = {"form": form, "frameworks": catalog().values()}
    if not form.is_valid():
        return _invalid(request, "compliance/overview.html", context)
    reports = build_reports(FRAMEWORK_SLUGS, **form.period())
    context["reports"] = [reports[slug] for slug in FRAMEWORK_SLUGS]
    context["query"] = form.period_query()
    return render(request, "compliance/overview.html", context)


def _with_edition(controls, edition):
    """Each control with the id shown on the page: its 2013 ids when the 2013 numbering is asked for."""
    for control in controls:
        older = [r["id"] for r in control["related"] if r["framework"] == ISO_2013]
        shown = (", ".join(older) or "(new in 2022)") if edition == "2013" else control["id"]
        yield {**control, "shown_id": shown}


@require_safe
@permission_required(PERMISSION)
def framework_report(request, framework):
    try:
        spec = get_framework(framework)
    except UnknownFramework as exc:
        return _not_found(request, str(exc))
    form = FrameworkFilterForm(request.GET, framework=spec)
    context = {"form": form, "framework": spec}
    if not form.is_valid():
        return _invalid(request, "compliance/framework.html", context)
    report = build_report(spec.slug, **form.period())
    status, edition = form.cleaned_data["status"], form.cleaned_data.get("edition", "")
    controls = [c for c in report["controls"] if not status or c["status"] == status]
    context.update({
        "report": report, "controls": list(_with_edition(controls, edition)), "status": status, "edition": edition,
        "query": form.period_query(), "edition_query": f"&edition={edition}" if edition else "",
        "status_filters": [(s, label, report["summary"][s]) for s, label in STATUS_LABELS.items()],
    })
    return render(request, "compliance/framework.html", context)


def _figures(figures):
    return [(name.replace("_", " ").replace(".", ": "), value) for name, value in figures.items()]


@require_safe
@permission_required(PERMISSION)
def control_detail(request, framework, control_id):
    try:
        spec = get_framework(framework)
        spec.control(control_id)
    except UnknownFramework as exc:
        return _not_found(request, str(exc))
    except LookupError:
        return _not_found(request, f"{spec.name} has no control {control_id!r} in this catalog.")
    form = PeriodForm(request.GET)
    context = {"form": form, "framework": spec, "control_id": control_id}
    if not form.is_valid():
        return _invalid(request, "compliance/control_detail.html", context)
    document = build_control(spec.slug, control_id, **form.period())
    checks = [{"slug": slug, **document["checks"][slug], "figure_list": _figures(document["checks"][slug]["figures"])}
              for slug in document["control"]["checks"]]
    context.update({"document": document, "control": document["control"], "checks": checks,
                    "query": form.period_query()})
    return render(request, "compliance/control_detail.html", context)


@require_safe
@permission_required(PERMISSION)
def crosswalk_page(request):
    used = resolve()
    rows = []
    for slug, served in crosswalk():
        spec = CHECKS[slug]
        by_framework = {name: [] for name in FRAMEWORK_SLUGS}
        for framework, control in served:
            by_framework[framework.slug].append(control)
        rows.append({"slug": slug, "title": spec.title, "area": spec.area, "rule": spec.rule_text(used[slug]),
                     "controls": [(slug_, by_framework[slug_]) for slug_ in FRAMEWORK_SLUGS]})
    return render(request, "compliance/crosswalk.html", {"rows": rows, "frameworks": catalog()})
