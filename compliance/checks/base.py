"""What every evidence check shares: the registry, the context it runs in, and the result document's parts."""
import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Window
from django.utils import timezone

PASS, PARTIAL, FAIL, NOT_APPLICABLE = "pass", "partial", "fail", "not_applicable"
STATUSES = (PASS, PARTIAL, FAIL, NOT_APPLICABLE)
DRILLDOWN_LIMIT = 1000

CHECKS = {}  # slug -> Check, in registration order (area by area)


@dataclass(frozen=True)
class Check:
    slug: str
    title: str
    area: str
    rule: str  # formatted with the check's thresholds
    function: object

    def rule_text(self, thresholds):
        shown = {name: ", ".join(value) if isinstance(value, list) else value for name, value in thresholds.items()}
        return self.rule.format(**shown)


def check(slug, *, title, rule):
    """Register an evidence check: a function (context) -> result()."""

    def register(function):
        area = function.__module__.rsplit(".", 1)[-1]
        CHECKS[slug] = Check(slug=slug, title=title, area=area, rule=" ".join(rule.split()), function=function)
        return function

    return register


@dataclass
class CheckContext:
    """The period a check judges: [start, as_of) in the site's time zone, the end day included."""

    period_start: dt.date
    period_end: dt.date
    thresholds: dict
    # Shared by the checks of one report, so that two checks needing the same figures query once.
    memo: dict = field(default_factory=dict)

    @property
    def start(self):
        return timezone.make_aware(dt.datetime.combine(self.period_start, dt.time.min))

    @property
    def as_of(self):
        """The first moment after the period: "as of the end date" means before this."""
        return timezone.make_aware(dt.datetime.combine(self.period_end + dt.timedelta(days=1), dt.time.min))

    def days_before_end(self, days):
        return self.as_of - dt.timedelta(days=days)

    def remember(self, key, compute):
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]

    def in_period(self, name):
        """Filter arguments: `name` within the period."""
        return {f"{name}__gte": self.start, f"{name}__lt": self.as_of}


_AS_IS = frozenset({str, int, float, bool, type(None)})


def cell(value):
    """A drill-down or figure value as JSON: datetimes in UTC to the minute, dates ISO, decimals as floats."""
    if type(value) in _AS_IS:  # most cells of a drill-down: answered before the isinstance tests below
        return value
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if timezone.is_aware(value) else \
            value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [cell(item) for item in value]
    return value


def percent(part, whole):
    return round(100.0 * part / whole, 1) if whole else 0.0


def by_share(value, *, pass_at, partial_at):
    """pass / partial / fail for a percentage that should be high."""
    if value >= pass_at:
        return PASS
    return PARTIAL if value >= partial_at else FAIL


def result(status, summary, figures=None, drilldown=None):
    if status not in STATUSES:  # a raise, not an assert: python -O must not drop the check
        raise ValueError(f"unknown status {status!r}")
    return {"status": status, "summary": summary, "figures": {k: cell(v) for k, v in (figures or {}).items()},
            "drilldown": drilldown or table("Rows behind the figure", [], [])}


def table(title, columns, rows, total=None):
    """A drill-down from rows already in hand (few: providers, policies)."""
    rows = [[cell(value) for value in row] for row in rows]
    total = len(rows) if total is None else total
    return {"title": title, "columns": list(columns), "rows": rows[:DRILLDOWN_LIMIT], "total": total,
            "truncated": total > DRILLDOWN_LIMIT or len(rows) > DRILLDOWN_LIMIT}


def fetch(queryset, limit=DRILLDOWN_LIMIT, total=None, fields=None):
    """(up to `limit` rows of an ordered queryset, how many there are in all).

    `fields` makes rows of those values (a count then leaves out the joins they need). Pass `total` when an
    aggregate has counted them already: no rows are then fetched for a total of zero, and no second count is
    made for more than `limit`.
    """
    if total == 0 or limit == 0:
        return [], total if total is not None else queryset.count()
    if total is not None or queryset.query.distinct:
        rows = list((queryset.values_list(*fields) if fields else queryset)[: limit + 1])
        if total is None:
            total = queryset.order_by().count() if len(rows) > limit else len(rows)
        return rows[:limit], total
    # One pass for both: COUNT(*) OVER () numbers every row the query finds before the LIMIT keeps 1,000.
    fields = fields or getattr(queryset, "_fields", None) or ()  # a values_list queryset's own columns
    counted = queryset.annotate(_total=Window(Count("*"))).values_list(*fields, "_total")[:limit]
    rows = list(counted)
    return [row[:-1] for row in rows], rows[0][-1] if rows else 0


def drilldown(title, columns, queryset, row=None, total=None):
    """A drill-down from an ordered values_list queryset: the first 1,000 rows and the count of all."""
    rows, total = fetch(queryset, total=total)
    return table(title, columns, [row(r) if row else r for r in rows], total=total)


def combined(title, columns, parts):
    """One drill-down from several (queryset, row function) parts, in order, capped at 1,000 rows in all."""
    rows, total = [], 0
    for queryset, row in parts:
        fetched, count = fetch(queryset, max(DRILLDOWN_LIMIT - len(rows), 0))
        rows += [row(r) for r in fetched]
        total += count
    return table(title, columns, rows, total=total)


def plural(count, word, words=None):
    return f"{count} {word if count == 1 else (words or word + 's')}"
