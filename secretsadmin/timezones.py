"""Show times in the viewer's own time zone: static/js/app.js reports the browser's zone in the `tz` cookie."""
import zoneinfo
from functools import lru_cache

from django.utils import timezone

COOKIE = "tz"


@lru_cache(maxsize=1)
def _known_zones():
    return frozenset(zoneinfo.available_timezones())


def zone_named(name):
    """The zone of an IANA name the system knows, else None (the cookie is the client's to write)."""
    if not name or len(name) > 64 or name not in _known_zones():
        return None
    return zoneinfo.ZoneInfo(name)


class ViewerTimeZoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = zone_named(request.COOKIES.get(COOKIE))
        if zone is None:
            timezone.deactivate()  # the site's TIME_ZONE
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
