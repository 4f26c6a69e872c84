"""The dashboard home's figures: aggregate queries over what the user may see, never a loop over inventory rows.

Every count goes through the same querysets (and filters) as the list its figure links to, so that following a
link shows exactly the number on the card: the inventory's visible secrets and SecretFilter's conditions, the
rotation list's visible requests and state groups, the provider list's sync filter.

The two passes over big tables (the inventory's counts, the runs' outcomes over 12 weeks) are the same for every
user who sees every secret through their role, so for them they come from a snapshot in the shared cache that a
scheduled job refreshes every minute (computed on the spot when there is none, or when a provider synced since),
as secretsadmin.posture does for /metrics; the page says when it was taken. Users who see only what they were
granted get them computed live.
"""
import contextlib
from dataclasses import dataclass
from datetime import timedelta

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, Min, Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from audit.services import latest_verification
from providers.filters import sync_problems, with_policy_interval, with_rotation_base
from providers.models import Provider, Secret
from rotation.access import VIEW_SECRET, may_list_requests, visible_requests
from rotation.forms import STATE_GROUPS
from rotation.models import RotationRequest
from rotation.outcomes import outcome_events
from secretsadmin.cache import get_or_none, set_if_possible
from secretsadmin.db_tuning import tune_for_aggregates
from secretsadmin.permissions import holds_permission_anywhere, objects_for_user

ACTIVE = Secret.Status.ACTIVE
WEEKS = 12
FAILED_DAYS = 7  # one of rotation.forms.FAILED_CHOICES, so that the figure links to that filter
CHAIN_EVENTS = "audit.chain_verified"
SNAPSHOT_TTL = 90  # the job refreshes it every minute; without a scheduler a visit recomputes it after 90 s


def link(url_name, **params):
    url = reverse(url_name)
    return f"{url}?{urlencode(params)}" if params else url


@dataclass(frozen=True)
class Part:
    """One part of a headline figure (a provider's secrets), linking to its own list."""

    label: str
    value: int
    url: str

    @property
    def display(self):
        return f"{self.value:,}"


@dataclass(frozen=True)
class Figure:
    """A headline figure: a card with its value, linking to the list of exactly that many rows."""

    key: str  # data-figure, for tests and the browser journeys
    label: str
    value: object
    url: str
    note: str = ""
    alert: bool = False  # shown with a warning icon and text, never colour alone
    breakdown: tuple = ()  # (Part, ...)
    verified_at: object = None  # the audit chain's: shown as a time

    @property
    def display(self):
        return f"{self.value:,}" if isinstance(self.value, int) else self.value


# ---------------------------------------------------------------- the inventory

COUNTS = ("total", "missing", "drift", "active", "never", "overdue", "past_half")


def inventory_counts(secrets, now):
    """Counts per (provider, lower-cased environment) over `secrets` (the user's visible ones): one pass, one query.

    `active`, `never`, `overdue` and `past_half` count active secrets only (missing and disabled ones cannot be
    rotated); `total`, `missing` and `drift` count every inventoried secret, as the inventory lists them. Overdue
    is SecretFilter's rotation=overdue (providers.filters.overdue_condition): older than the governing policy's
    interval; past_half, older than half of it.
    """
    annotated, intervals = with_policy_interval(with_rotation_base(secrets))
    active = Q(status=ACTIVE)
    # Grouped by interval too, so that each row's policy is worked out once and the age tests are plain
    # comparisons: one column per interval, of which each group reads its own.
    ages = {}
    for days in intervals:
        ages[f"over_{days}"] = Count("pk", filter=active & Q(rotation_base__lt=now - timedelta(days=days)))
        ages[f"half_{days}"] = Count("pk", filter=active & Q(rotation_base__lt=now - timedelta(days=days) / 2))
    rows = annotated.order_by().values("provider__name", "policy_interval", environment_key=Lower("environment"))
    rows = rows.annotate(
        total=Count("pk"),
        missing=Count("pk", filter=Q(status=Secret.Status.MISSING)),
        drift=Count("pk", filter=Q(changed_out_of_band_at__isnull=False)),
        active=Count("pk", filter=active),
        never=Count("pk", filter=active & Q(last_rotated_at__isnull=True)),
        **ages,
    )
    # .get: a policy changed since the intervals were read is counted at the next visit, not a server error.
    return [{"provider__name": row["provider__name"], "environment_key": row["environment_key"],
             **{name: row[name] for name in COUNTS[:5]},
             "overdue": row.get(f"over_{row['policy_interval']}", 0),
             "past_half": row.get(f"half_{row['policy_interval']}", 0)}
            for row in rows]


def fold(rows, key):
    """{group: {count: n}} summed over the rows (None as the key: everything)."""
    folded = {}
    for row in rows:
        group = folded.setdefault(None if key is None else row[key], dict.fromkeys(COUNTS, 0))
        for name in COUNTS:
            group[name] += row[name]
    return folded


def inventory_figures(totals, by_provider):
    inventory = "providers:secret_list"
    return [
        Figure("secrets", "Secrets", totals["total"], link(inventory), note="by provider",
               breakdown=tuple(Part(name, figures["total"], link(inventory, provider=name))
                               for name, figures in sorted(by_provider.items()))),
        Figure("overdue", "Overdue for rotation", totals["overdue"],
               link(inventory, rotation="overdue", status=ACTIVE), note="active secrets past their policy's interval",
               alert=totals["overdue"] > 0),
        Figure("never-rotated", "Never rotated", totals["never"], link(inventory, rotation="never", status=ACTIVE),
               note="active secrets with no recorded rotation"),
        Figure("drift", "Changed out of band", totals["drift"], link(inventory, out_of_band="true"),
               note="changed in the provider without a SecretsAdmin rotation", alert=totals["drift"] > 0),
        Figure("missing", "Missing in provider", totals["missing"], link(inventory, status=Secret.Status.MISSING),
               note="gone from their provider since the last sync"),
    ]


# ---------------------------------------------------------------- rotations


def rotation_counts(user):
    open_requests = visible_requests(user).filter(state__in=RotationRequest.OPEN_STATES)
    pending = Q(state__in=STATE_GROUPS["pending"])
    return open_requests.aggregate(
        pending=Count("pk", filter=pending), oldest_pending=Min("created_at", filter=pending),
        running=Count("pk", filter=Q(state__in=STATE_GROUPS["running"])),
        attention=Count("pk", filter=Q(state__in=STATE_GROUPS["attention"])))


def week_windows(now, weeks=WEEKS):
    """[(start, end)] of the last `weeks` seven-day windows, oldest first; the newest ends now (end None)."""
    return [(now - timedelta(weeks=weeks - i), None if i == weeks - 1 else now - timedelta(weeks=weeks - i - 1))
            for i in range(weeks)]


def rotation_outcomes(requests, windows):
    """{"succeeded": [runs per window], "failed": [...]} of the runs in `requests` (None: all) from their outcome
    events: one aggregate query."""
    events = outcome_events(windows[0][0], requests)
    aggregates = {}
    for i, (start, end) in enumerate(windows):
        window = Q(timestamp__gte=start) if end is None else Q(timestamp__gte=start, timestamp__lt=end)
        for name, outcome in (("succeeded", "success"), ("failed", "failure")):
            aggregates[f"{name}_{i}"] = Count("target_id", distinct=True, filter=window & Q(outcome=outcome))
    counts = events.aggregate(**aggregates)
    return {name: [counts[f"{name}_{i}"] for i in range(len(windows))] for name in ("succeeded", "failed")}


def _age(delta):
    hours = int(delta.total_seconds() // 3600)
    if hours < 1:
        return "under an hour"
    if hours < 48:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{hours // 24} days"


def rotation_figures(counts, outcomes, now):
    # "Failed in the last 7 days" is the newest window of the weekly chart: the same runs, counted once.
    rotations = "rotation:request_list"
    oldest = counts["oldest_pending"]
    failed = outcomes["failed"][-1]
    return [
        Figure("pending", "Pending approval", counts["pending"], link(rotations, state="pending"),
               note=f"oldest waiting {_age(now - oldest)}" if oldest else "none waiting"),
        Figure("running", "Running", counts["running"], link(rotations, state="running"),
               note="approved, in progress or retrying"),
        Figure("attention", "Need attention", counts["attention"], link(rotations, state="attention"),
               note="stopped retrying; a person must act", alert=counts["attention"] > 0),
        Figure("failed", f"Failed in the last {FAILED_DAYS} days", failed, link(rotations, failed=FAILED_DAYS),
               note="runs the worker gave up on", alert=failed > 0),
    ]


# ---------------------------------------------------------------- providers and the audit chain


def provider_figure(user, now):
    providers = objects_for_user(user, "providers.view_provider", Provider.objects.all())
    names = list(sync_problems(providers, now).order_by("name").values_list("name", flat=True))
    return Figure("sync", "Providers with sync problems", len(names), link("providers:provider_list", sync="problem"),
                  note=", ".join(names) if names else "every provider synced recently", alert=bool(names))


def chain_figure():
    """The audit chain's figure: the latest verification's result and when it ran."""
    verification = latest_verification()
    url = link("audit:event_list", event_type=CHAIN_EVENTS)
    if verification is None:
        return Figure("chain", "Audit chain", "Not verified", url, note="no verification has run yet", alert=True)
    if not verification.ok:
        return Figure("chain", "Audit chain", "Broken", url, alert=True, verified_at=verification.verified_at,
                      note=f"first broken link #{verification.first_broken_sequence}")
    return Figure("chain", "Audit chain", "Intact", url, note=f"{verification.events_checked:,} events checked",
                  verified_at=verification.verified_at)


# ---------------------------------------------------------------- the page


@contextlib.contextmanager
def aggregate_queries():
    """One read transaction, tuned for aggregates (no JIT on PostgreSQL: see secretsadmin.db_tuning)."""
    with transaction.atomic(savepoint=False):
        tune_for_aggregates()
        yield


def _snapshot_key():
    # Per database: a test run or a second deployment sharing the Redis must never read this one's figures.
    return f"dashboard:snapshot:{connection.settings_dict['NAME']}"


def _compute_snapshot(now):
    windows = week_windows(now)
    snapshot = {"as_of": now, "inventory": inventory_counts(Secret.objects.all(), now), "windows": windows,
                "outcomes": rotation_outcomes(None, windows)}
    set_if_possible(_snapshot_key(), snapshot, SNAPSHOT_TTL)
    return snapshot


def compute_snapshot(now=None):
    """The big passes over everything (for users who see every secret), stored in the shared cache."""
    with aggregate_queries():
        return _compute_snapshot(now or timezone.now())


def refresh_dashboard_snapshot_job():
    """RQ job (scheduled every minute by secretsadmin.cron)."""
    return len(compute_snapshot()["inventory"])


def forget_snapshot():
    """For tests and after bulk changes: the next visit computes the figures afresh."""
    cache.delete(_snapshot_key())


def _big_passes(user, now, *, secrets, rotations):
    """The inventory's counts and the runs' outcomes: from the snapshot for users who see every secret, else
    those of the user's visible secrets (if `secrets`) and their runs (if `rotations`), counted now."""
    if user.is_active and user.has_perm(VIEW_SECRET):
        snapshot = get_or_none(_snapshot_key())  # a Redis outage: counted live
        # A sync since then changed the inventory: count again rather than show the figures from before it.
        if snapshot is None or Provider.objects.filter(last_sync_at__gt=snapshot["as_of"]).exists():
            snapshot = _compute_snapshot(now)
        return snapshot
    windows = week_windows(now)
    return {"as_of": now, "windows": windows,
            "inventory": inventory_counts(objects_for_user(user, VIEW_SECRET, Secret.objects.all()), now)
            if secrets else [],
            "outcomes": rotation_outcomes(visible_requests(user), windows) if rotations else {}}


def home_figures(user, now):
    """{"inventory", "rotations", "providers", "chain"}: only the parts the user may see; "as_of" is when the
    inventory and rotation figures were counted."""
    parts = {}
    sees_secrets, sees_rotations = holds_permission_anywhere(user, VIEW_SECRET), may_list_requests(user)
    with aggregate_queries():
        passes = _big_passes(user, now, secrets=sees_secrets, rotations=sees_rotations) if (
            sees_secrets or sees_rotations) else {}
        if passes:
            parts["as_of"] = passes["as_of"]
        if sees_secrets:
            rows = passes["inventory"]
            by_provider = fold(rows, "provider__name")
            totals = fold(rows, None).get(None, dict.fromkeys(COUNTS, 0))
            parts["inventory"] = {"totals": totals, "by_provider": by_provider,
                                  "by_environment": fold(rows, "environment_key"),
                                  "figures": inventory_figures(totals, by_provider)}
        if sees_rotations:
            parts["rotations"] = {
                "windows": passes["windows"], "outcomes": passes["outcomes"],
                "figures": rotation_figures(rotation_counts(user), passes["outcomes"], now)}
        if holds_permission_anywhere(user, "providers.view_provider"):
            parts["providers"] = provider_figure(user, now)
        if user.has_perm("audit.view_auditevent"):
            parts["chain"] = chain_figure()
    return parts
