"""`{{ moment|when }}`: a time in the viewer's time zone, with UTC on hover and in the machine-readable attribute.

The viewer's zone comes from secretsadmin.timezones (the browser's zone, reported in a cookie); without one it is
the site's TIME_ZONE. Precisions: `when:"seconds"`, `when:"micro"`, and `when:"date"` (the day only; the full time
stays on hover).
"""
import datetime as dt

from django import template
from django.utils import timezone
from django.utils.html import format_html

register = template.Library()
FORMATS = {"": "%Y-%m-%d %H:%M", "seconds": "%Y-%m-%d %H:%M:%S", "micro": "%Y-%m-%d %H:%M:%S.%f", "date": "%Y-%m-%d"}


@register.filter
def when(moment, precision=""):
    if not isinstance(moment, dt.datetime):
        return "" if moment is None else moment
    shape = FORMATS.get(precision, FORMATS[""])
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, dt.UTC)
    utc, local = moment.astimezone(dt.UTC), timezone.localtime(moment)
    zone = "" if precision == "date" else f" {local.tzname() or ''}"
    return format_html('<time datetime="{}" title="{} UTC">{}{}</time>', utc.isoformat().replace("+00:00", "Z"),
                       utc.strftime(FORMATS["seconds"]), local.strftime(shape), zone)
