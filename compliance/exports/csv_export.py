"""The CSV export: one row per control and evidence check with the check's figures; safe to open in a spreadsheet."""
import csv
import io

from compliance.exports import FrozenSnapshot, canonical_json
from secretsadmin.spreadsheets import spreadsheet_safe

COLUMNS = (
    "framework", "framework_version", "period_start", "period_end", "control_id", "control_title", "control_status",
    "check", "check_title", "check_status", "check_summary", "rule", "figures", "drilldown_total", "snapshot",
    "digest",
)


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return value  # a number is a number: no formula prefix, and "-3" stays -3
    return spreadsheet_safe(value)


def rows(snapshot: FrozenSnapshot):
    """The data rows (without the header), in catalog order, checks in the order the control lists them."""
    results = snapshot.results
    framework = results.get("framework") or {}
    period = results.get("period") or {}
    checks = results.get("checks") or {}
    common = (framework.get("slug"), framework.get("version"), period.get("start"), period.get("end"))
    for control in results.get("controls") or []:
        head = (*common, control.get("id"), control.get("title"), control.get("status"))
        tail = (snapshot.uuid, snapshot.digest)
        if not control.get("checks"):  # a control with no evidence check still gets its row
            yield (*head, "", "", "", "", "", "", "", *tail)
            continue
        for slug in control["checks"]:
            check = checks.get(slug) or {}
            drilldown = check.get("drilldown") or {}
            # Figures as compact sorted JSON: one column whatever the check, and it parses back.
            figures = canonical_json(check.get("figures") or {})
            yield (*head, slug, check.get("title"), check.get("status"), check.get("summary"), check.get("rule"),
                   figures, drilldown.get("total"), *tail)


def render(snapshot: FrozenSnapshot) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows(snapshot):
        writer.writerow([_cell(value) for value in row])
    return buffer.getvalue().encode("utf-8")
