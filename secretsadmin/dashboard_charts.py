"""The dashboard home's charts, from its figures (secretsadmin.dashboard): rotations per week, secret age against
policy, and overdue secrets by provider and by environment (drawn by secretsadmin.charts)."""
from datetime import timedelta

from django.utils import formats, timezone

from providers.models import Secret
from secretsadmin.charts import Bar, bar_chart, column_chart
from secretsadmin.dashboard import WEEKS, link

CHART_ROWS = 10  # bars per "overdue by" chart; the summary adds up the rest
ACTIVE = Secret.Status.ACTIVE
INVENTORY = "providers:secret_list"


def _day(moment):
    return formats.date_format(timezone.localtime(moment), "j M")


def weekly_chart(rotations):
    windows, outcomes = rotations["windows"], rotations["outcomes"]
    as_of = windows[-1][0] + timedelta(weeks=1)  # the newest window's end: when it was counted
    categories = [(_day(end or as_of), f"7 days to {_day(end or as_of)}") for _, end in windows]
    succeeded, failed = sum(outcomes["succeeded"]), sum(outcomes["failed"])
    summary = (f"Rotations per week over the last {WEEKS} weeks: {succeeded:,} succeeded and {failed:,} failed in "
               f"all; in the last 7 days {outcomes['succeeded'][-1]:,} succeeded and {outcomes['failed'][-1]:,} "
               "failed.")
    return column_chart("chart-rotations", "Rotations per week", categories=categories,
                        series=[("succeeded", "Succeeded"), ("failed", "Failed")], values=outcomes,
                        summary=summary, empty=f"No rotation finished in the last {WEEKS} weeks.",
                        category_heading="Week")


def _share(part, whole):
    return f"({round(100 * part / whole)}%)" if whole else ""


def age_chart(totals):
    active, overdue, past_half = totals["active"], totals["overdue"], totals["past_half"]
    buckets = [("Under half", active - past_half, "fresh", ""),
               ("Half to full", past_half - overdue, "aging", ""),
               ("Overdue", overdue, "overdue", link(INVENTORY, rotation="overdue", status=ACTIVE))]
    bars = [Bar(label, value, _share(value, active), url, series) for label, value, series, url in buckets]
    summary = (f"Age of {active:,} active secrets since their last rotation, against their policy's interval: "
               + "; ".join(f"{bar.label.lower()} {bar.value:,}" for bar in bars) + ".")
    return bar_chart("chart-age", "Secret age against policy", bars=bars, summary=summary,
                     empty="No active secrets.", category_heading="Age (share of the interval)",
                     value_heading="Active secrets")


def overdue_chart(chart_id, title, groups, *, what, url_for, label_for=str):
    """Overdue active secrets per group (provider or environment), the most overdue first."""
    ranked = sorted(((name, counts) for name, counts in groups.items() if counts["active"]),
                    key=lambda item: (-item[1]["overdue"], label_for(item[0])))
    bars = [Bar(label_for(name), counts["overdue"], f"of {counts['active']:,}", url_for(name), "overdue")
            for name, counts in ranked]
    shown, rest = bars[:CHART_ROWS], bars[CHART_ROWS:]
    listed = "; ".join(f"{bar.label} {bar.value:,} {bar.note}" for bar in shown)
    more = f"; and {len(rest)} more with {sum(bar.value for bar in rest):,} overdue" if rest else ""
    summary = f"Overdue active secrets by {what}: {listed}{more}." if bars else f"No active secrets by {what}."
    return bar_chart(chart_id, title, bars=shown, summary=summary, empty="No active secrets.",
                     category_heading=what.capitalize(), value_heading="Overdue of active")


def home_charts(parts):
    charts = []
    if "rotations" in parts:
        charts.append(weekly_chart(parts["rotations"]))
    if "inventory" in parts:
        inventory = parts["inventory"]
        charts.append(age_chart(inventory["totals"]))
        charts.append(overdue_chart(
            "chart-overdue-provider", "Overdue by provider", inventory["by_provider"], what="provider",
            url_for=lambda name: link(INVENTORY, provider=name, rotation="overdue", status=ACTIVE)))
        charts.append(overdue_chart(
            "chart-overdue-environment", "Overdue by environment", inventory["by_environment"], what="environment",
            url_for=lambda name: link(INVENTORY, environment=name, rotation="overdue", status=ACTIVE) if name else "",
            label_for=lambda name: name or "(none)"))
    return charts
