"""How often each secret is due for rotation: the rotation app plugs its policies in here at start-up.

Providers may not import the rotation app (dependencies point compliance -> rotation -> providers -> audit),
so the inventory asks this registry; until something registers, every secret gets the default interval.
"""
from django.conf import settings
from django.db.models import IntegerField, Value


class DefaultIntervals:
    """Every secret rotates every ROTATION_DEFAULT_INTERVAL_DAYS."""

    def intervals_for(self, secrets):
        return {secret.pk: settings.ROTATION_DEFAULT_INTERVAL_DAYS for secret in secrets}

    def annotate(self, queryset):
        """(queryset with a `policy_interval` annotation, the distinct values it can take)."""
        days = settings.ROTATION_DEFAULT_INTERVAL_DAYS
        return queryset.annotate(policy_interval=Value(days, output_field=IntegerField())), [days]


_source = None


def register_interval_source(source):
    global _source
    _source = source


def interval_source():
    return _source or DefaultIntervals()
