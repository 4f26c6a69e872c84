"""The inventory's filters and rotation age: which secrets are shown, in which order, and how overdue each is."""
import json
from dataclasses import dataclass
from datetime import timedelta

import django_filters
from django import forms
from django.db.models import Exists, F, OuterRef, Q, TextField
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone
from django_filters.constants import EMPTY_VALUES

from providers.models import Provider, Secret
from providers.rotation_schedule import interval_source
from secretsadmin.forms import FilterForm, filter_querystring, text_input
from secretsadmin.permissions import objects_for_user

# The interval of a secret no policy governs (settings.ROTATION_DEFAULT_INTERVAL_DAYS, 90 unless configured);
# policies set their own through providers.rotation_schedule.
DEFAULT_ROTATION_DAYS = 90
DUE_SOON_DAYS = 14


def rotation_interval_days(secret):
    """How many days may pass between rotations of `secret` (its policy's interval, else the default)."""
    return interval_source().intervals_for([secret])[secret.pk]


def overdue_condition(now, values=(DEFAULT_ROTATION_DAYS,)):
    """Rows whose rotation base is older than their own interval.

    Needs the `rotation_base` annotation (with_rotation_base) and `policy_interval` (with_policy_interval),
    whose distinct `values` the latter returns.
    """
    condition = Q(pk__in=[])
    for days in values:
        condition |= Q(policy_interval=days, rotation_base__lt=now - timedelta(days=days))
    return condition


def with_policy_interval(queryset):
    """(queryset annotated with each row's `policy_interval` in days, the distinct values it can take)."""
    return interval_source().annotate(queryset)


def with_rotation_base(queryset):
    # Never rotated counts from when the inventory first saw the secret.
    return queryset.annotate(rotation_base=Coalesce("last_rotated_at", "first_seen_at"))


@dataclass(frozen=True)
class RotationAge:
    days: int
    state: str  # "ok" | "due-soon" | "overdue"
    interval_days: int

    @property
    def label(self):
        return {"ok": "within its rotation interval", "due-soon": "due for rotation soon",
                "overdue": "overdue for rotation"}[self.state]


def rotation_age(secret, now=None, interval=None):
    """The secret's age since its last rotation (or since it was first seen), judged against its interval.

    Pass `interval` when it is known (a page's intervals come from one interval_source() call)."""
    now = now or timezone.now()
    age = now - (secret.last_rotated_at or secret.first_seen_at)
    interval = rotation_interval_days(secret) if interval is None else interval
    if age > timedelta(days=interval):
        state = "overdue"
    elif age >= timedelta(days=interval - DUE_SOON_DAYS):
        state = "due-soon"
    else:
        state = "ok"
    return RotationAge(days=max(age.days, 0), state=state, interval_days=interval)


SecretFilterForm = FilterForm
_text = text_input


class SecretOrdering(django_filters.OrderingFilter):
    """Whitelisted sort keys; never-rotated secrets sort as the oldest; ties broken so pages are stable."""

    TIE_BREAK = ("provider__name", "name", "pk")

    def get_ordering_value(self, param):
        descending = param.startswith("-")
        expression = F(self.param_map[param.lstrip("-")])
        return expression.desc(nulls_last=True) if descending else expression.asc(nulls_first=True)

    def filter(self, qs, value):
        if value in EMPTY_VALUES:
            return qs
        ordering = [self.get_ordering_value(param) for param in value if param not in EMPTY_VALUES]
        return qs.order_by(*ordering, *self.TIE_BREAK) if ordering else qs


ROTATION_CHOICES = [("overdue", "Overdue"), ("never", "Never rotated")]
YES_NO = [("", "Any"), ("true", "Yes"), ("false", "No")]


# A provider is stale once a sync has been missed: its interval twice over, plus the scheduler's five-minute check
# and time for the sync to run (providers.jobs.enqueue_due_syncs_job queues one when its interval has passed).
SYNC_STALE_SLACK_MINUTES = 10


def sync_problem_condition(now, intervals):
    """Enabled providers whose last sync failed, or whose last successful sync (their registration, if none) is
    older than twice their interval plus the slack. Needs the `sync_base` annotation (with_sync_base);
    `intervals` are the distinct sync_interval_minutes values (there are a handful)."""
    stale = Q(pk__in=[])
    for minutes in intervals:
        stale |= Q(sync_interval_minutes=minutes,
                   sync_base__lt=now - timedelta(minutes=2 * minutes + SYNC_STALE_SLACK_MINUTES))
    return Q(enabled=True) & (Q(last_sync_ok=False) | stale)


def with_sync_base(queryset):
    return queryset.annotate(sync_base=Coalesce("last_successful_sync_at", "created_at"))


def sync_problems(queryset, now=None):
    """The providers of `queryset` whose last sync failed or is stale."""
    intervals = Provider.objects.order_by().values_list("sync_interval_minutes", flat=True).distinct()
    return with_sync_base(queryset).filter(sync_problem_condition(now or timezone.now(), list(intervals)))


class ProviderFilter(django_filters.FilterSet):
    sync = django_filters.ChoiceFilter(choices=[("problem", "Failed or stale")], method="filter_sync",
                                       label="Last sync", empty_label="Any")

    class Meta:
        model = Provider
        fields = []
        form = FilterForm

    def filter_sync(self, queryset, name, value):
        return sync_problems(queryset)

    def querystring(self):
        return filter_querystring(self)


class SecretFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_text", label="Search", max_length=200,
                                  widget=_text("name, description or tag"))
    provider = django_filters.ChoiceFilter(field_name="provider__name", label="Provider", empty_label="Any",
                                           choices=[])
    environment = django_filters.CharFilter(field_name="environment", lookup_expr="iexact", label="Environment",
                                            max_length=64, widget=_text("exact name"))
    owner = django_filters.CharFilter(field_name="owner", lookup_expr="iexact", label="Owner", max_length=150,
                                      widget=_text("exact team or group"))
    status = django_filters.ChoiceFilter(choices=Secret.Status.choices, label="Status", empty_label="Any")
    rotation = django_filters.ChoiceFilter(choices=ROTATION_CHOICES, method="filter_rotation", label="Rotation",
                                           empty_label="Any")
    out_of_band = django_filters.BooleanFilter(method="filter_out_of_band", label="Changed out of band",
                                               widget=forms.Select(choices=YES_NO))
    sort = SecretOrdering(
        label="Sort by", empty_label="Provider, name",
        fields=(("name", "name"), ("provider__name", "provider"), ("environment", "environment"),
                ("owner", "owner"), ("last_rotated_at", "last_rotated"), ("status", "status")),
        field_labels={"name": "Name", "provider__name": "Provider", "environment": "Environment",
                      "owner": "Owner", "last_rotated_at": "Last rotated", "status": "Status"},
    )

    class Meta:
        model = Secret
        fields = []
        form = SecretFilterForm

    def __init__(self, data=None, queryset=None, *, request=None, **kwargs):
        super().__init__(data, queryset, request=request, **kwargs)
        self.filters["provider"].extra["choices"] = self._provider_choices()

    def _provider_choices(self):
        # Providers the user may view, and those of secrets they were granted one by one (the rows show
        # those names anyway), so that filtering never offers a provider the user cannot know about.
        if self.request is None:
            return []
        viewable = objects_for_user(self.request.user, "providers.view_provider", Provider.objects.all())
        # EXISTS stops at a provider's first visible secret; IN would list them all.
        names = Provider.objects.filter(
            Q(pk__in=viewable.values("pk")) | Exists(self.queryset.filter(provider=OuterRef("pk")))
        ).order_by("name").values_list("name", flat=True)
        return [(name, name) for name in names]

    def filter_text(self, queryset, name, value):
        # Tags are JSON: PostgreSQL casts jsonb to its text, SQLite keeps the stored JSON with non-ASCII
        # and quotes escaped, so look for the text both as typed and as JSON escapes it.
        tag_matches = Q(tags_text__icontains=value)
        escaped = json.dumps(value)[1:-1]
        if escaped != value:
            tag_matches |= Q(tags_text__icontains=escaped)
        return queryset.annotate(tags_text=Cast("tags", TextField())).filter(
            Q(name__icontains=value) | Q(description__icontains=value) | tag_matches
        )

    def filter_rotation(self, queryset, name, value):
        if value == "never":
            return queryset.filter(last_rotated_at__isnull=True)
        annotated, values = with_policy_interval(with_rotation_base(queryset))
        return annotated.filter(overdue_condition(timezone.now(), values))

    def filter_out_of_band(self, queryset, name, value):
        return queryset.filter(changed_out_of_band_at__isnull=not value)

    def querystring(self):
        return filter_querystring(self)

    def in_provider_order(self):
        """Whether the rows are listed by provider name, then secret name (the default order, see
        Secret.Meta.ordering), which providers.inventory_paging.ProviderBlockPaginator can page."""
        return (self.form.cleaned_data.get("sort") or []) in ([], ["provider"], ["provider", "name"])
