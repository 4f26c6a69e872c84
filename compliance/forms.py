"""The report pages' period selector (and the framework page's filters), with the shared bad-input rules."""
import datetime as dt

from django import forms
from django.utils import timezone

from compliance.checks.base import STATUSES
from compliance.evaluate import check_period, earliest_data_date
from secretsadmin.forms import FilterForm

DEFAULT_DAYS = 30
STATUS_LABELS = {"pass": "Pass", "partial": "Partial", "fail": "Fail", "not_applicable": "Not applicable"}


def default_period(today=None):
    """The last 30 days, today included, but not before the first recorded data (a young installation)."""
    today = today or timezone.localdate()
    start = today - dt.timedelta(days=DEFAULT_DAYS - 1)
    earliest = earliest_data_date()
    return (min(max(start, earliest), today) if earliest else start), today


class DateInput(forms.DateInput):
    input_type = "date"


class PeriodForm(FilterForm):
    start = forms.DateField(label="From", widget=DateInput(format="%Y-%m-%d"))
    end = forms.DateField(label="To (inclusive)", widget=DateInput(format="%Y-%m-%d"))

    def __init__(self, data=None, *, today=None, **kwargs):
        self.today = today or timezone.localdate()
        data = data.copy() if data is not None else {}
        if not data.get("start") or not data.get("end"):
            # An unset field means the default period's, so a first visit is a valid (bound) form.
            start, end = default_period(self.today)
            for name, value in (("start", start), ("end", end)):
                if not data.get(name):
                    data[name] = value.isoformat()
        super().__init__(data, **kwargs)

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end:
            for field, message in check_period(start, end, today=self.today).items():
                self.add_error(field, message)
        return cleaned

    def period(self):
        return {"period_start": self.cleaned_data["start"], "period_end": self.cleaned_data["end"]}

    def period_query(self):
        return f"start={self.cleaned_data['start'].isoformat()}&end={self.cleaned_data['end'].isoformat()}"


class FrameworkFilterForm(PeriodForm):
    status = forms.ChoiceField(required=False, label="Status",
                               choices=[("", "Any")] + [(s, STATUS_LABELS[s]) for s in STATUSES])
    edition = forms.ChoiceField(required=False, label="Numbering", choices=[
        ("", "ISO/IEC 27001:2022"), ("2013", "ISO/IEC 27001:2013")])

    def __init__(self, data=None, *, framework, **kwargs):
        super().__init__(data, **kwargs)
        if not framework.edition:
            del self.fields["edition"]  # only ISO/IEC 27001 has two numberings
