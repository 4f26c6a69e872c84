"""The audit log's filters, shared by the list page and the exports (same query parameters, same rows)."""
import json
import re
from datetime import UTC, datetime, timedelta

import django_filters
from django import forms
from django.db.models import Q, TextField
from django.db.models.functions import Cast

from audit.chain import format_timestamp
from audit.events import EVENT_TYPES
from audit.models import AuditEvent
from secretsadmin.forms import FilterForm, text_input

_DATETIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<minute>\d{2}:\d{2})(?::(?P<second>\d{2})(?P<fraction>\.\d{1,6})?)?)?"
    r"(?P<offset>Z|[+-]\d{2}:\d{2})?"
)


class UTCDateTimeField(forms.DateTimeField):
    """YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS[.ffffff]], in UTC unless an offset is given.

    With `end_of_period`, a value means the end of the day, minute or second it names, so that
    "until 2024-05-01" includes the whole of that day.
    """

    default_error_messages = {"invalid": "Enter a date as YYYY-MM-DD or a time as YYYY-MM-DDTHH:MM (UTC)."}

    def __init__(self, *, end_of_period=False, **kwargs):
        self.end_of_period = end_of_period
        super().__init__(**kwargs)

    def to_python(self, value):
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        text = str(value or "").strip()
        if not text:
            return None
        match = _DATETIME.fullmatch(text)
        if not match:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        try:
            parsed = datetime.fromisoformat(text.replace(" ", "T").replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            parsed = parsed.astimezone(UTC)
        except (ValueError, OverflowError):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        if not self.end_of_period or match["fraction"]:
            return parsed
        if match["second"]:
            period = timedelta(seconds=1)
        elif match["minute"]:
            period = timedelta(minutes=1)
        else:
            period = timedelta(days=1)
        try:
            return parsed + period - timedelta(microseconds=1)
        except OverflowError:
            return datetime.max.replace(tzinfo=UTC)


class UTCDateTimeFilter(django_filters.Filter):
    field_class = UTCDateTimeField


AuditEventFilterForm = FilterForm
_text = text_input


class AuditEventFilter(django_filters.FilterSet):
    since = UTCDateTimeFilter(field_name="timestamp", lookup_expr="gte", label="Since (UTC)",
                              widget=_text("YYYY-MM-DD or YYYY-MM-DDTHH:MM"))
    until = UTCDateTimeFilter(field_name="timestamp", lookup_expr="lte", label="Until (UTC)", end_of_period=True,
                              widget=_text("YYYY-MM-DD or YYYY-MM-DDTHH:MM"))
    actor = django_filters.CharFilter(field_name="actor_name", lookup_expr="icontains", label="Actor",
                                      max_length=150, widget=_text("user name"))
    event_type = django_filters.ChoiceFilter(choices=[(code, code) for code in EVENT_TYPES], label="Event type",
                                             empty_label="Any")
    outcome = django_filters.ChoiceFilter(choices=AuditEvent.Outcome.choices, label="Outcome", empty_label="Any")
    provider = django_filters.CharFilter(field_name="provider", lookup_expr="iexact", label="Provider",
                                         max_length=63, widget=_text("exact name"))
    secret_name = django_filters.CharFilter(field_name="secret_name", lookup_expr="icontains", label="Secret",
                                            max_length=512, widget=_text("part of a name"))
    q = django_filters.CharFilter(method="filter_details", label="Details contain", max_length=200,
                                  widget=_text("text in details"))

    class Meta:
        model = AuditEvent
        fields = []
        form = AuditEventFilterForm

    def filter_details(self, queryset, name, value):
        # Details are JSON: PostgreSQL casts jsonb to its text, SQLite keeps the stored JSON with
        # non-ASCII and quotes escaped, so look for the text both as typed and as JSON escapes it.
        escaped = json.dumps(value)[1:-1]
        matches = Q(details_text__icontains=value)
        if escaped != value:
            matches |= Q(details_text__icontains=escaped)
        return queryset.annotate(details_text=Cast("details", TextField())).filter(matches)

    def filter_queryset(self, queryset):
        return super().filter_queryset(queryset).order_by("-sequence")

    def cleaned_filters(self):
        """The filters in use, as strings (for the audit record of an export). Call after is_valid()."""
        used = {}
        for name, value in self.form.cleaned_data.items():
            if value in (None, ""):
                continue
            used[name] = format_timestamp(value) if isinstance(value, datetime) else str(value)
        return used
