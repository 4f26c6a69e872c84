"""The URL patterns of the application, walked from get_resolver(), and real URLs for them (the World's objects,
or made-up ids of the same shape), for the access and request-size batteries."""
import re
import uuid

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.resolvers import RoutePattern
from django.utils import timezone

from tests.security.url_table import ROUTES


class Pattern:
    """One URL pattern: its key in ROUTES (the name; the route for an unnamed one), full route and arguments."""

    def __init__(self, entry, route, namespace):
        self.name = f"{namespace}{entry.name}" if entry.name else None
        self.route = route
        self.key = self.name or f"{namespace}<{route}>"
        pattern = entry.pattern
        self.kwargs = list(pattern.converters) if isinstance(pattern, RoutePattern) else list(
            pattern.regex.groupindex)
        self.kwargs = [name for name in self.kwargs if name not in entry.default_args]

    def __repr__(self):
        return f"{self.key} {self.route}"


def walk(patterns=None, prefix="", namespace=""):
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from walk(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            yield Pattern(entry, prefix + str(entry.pattern), namespace)


PATTERNS = list(walk())


def _admin_object(world, pattern):
    """The real object an admin URL names (created when the admin's model has no row yet)."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    now, where = timezone.now(), {"ip_address": "192.0.2.1", "user_agent": "battery"}
    makers = {
        "auth/user": lambda: world["alice"],
        "auth/group": lambda: world.group,
        "audit/auditevent": lambda: world.event,
        "axes/accessattempt": lambda: AccessAttempt.objects.create(username="alice", attempt_time=now,
                                                                   failures_since_start=1, **where),
        "axes/accesslog": lambda: AccessLog.objects.create(username="alice", attempt_time=now, **where),
        "axes/accessfailurelog": lambda: AccessFailureLog.objects.create(username="alice", attempt_time=now,
                                                                         **where),
        "otp_totp/totpdevice": lambda: world.authenticator,
        "secretsadmin/recoverycodedevice": lambda: world.recovery_codes,
    }
    model = next(m for m in makers if f"admin/{m}/" in pattern.route or pattern.key.startswith(
        f"admin:{m.replace('/', '_')}_"))
    return makers[model]()


def _values(world, pattern, real):
    route = ROUTES[pattern.key]
    values = {}
    for name in pattern.kwargs:
        if name == "uuid":
            values[name] = getattr(world, route.obj).uuid if real else uuid.uuid4()
        elif name == "object_id" and "content_type_id" in pattern.kwargs:  # view_on_site: a user's page
            values[name] = world["alice"].pk if real else 2_000_000_000
        elif name in ("object_id", "id"):
            values[name] = _admin_object(world, pattern).pk if real else 2_000_000_000
        elif name == "content_type_id":
            values[name] = ContentType.objects.get_for_model(get_user_model()).pk
        elif name == "app_label":
            values[name] = "auth"
        elif name == "framework":
            values[name] = "nist-800-53" if real else "no-such-framework"
        elif name == "control_id":
            values[name] = "AC-2" if real else "ZZ-99"
        elif name.endswith("_index"):
            values[name] = 0
        elif name == "job_id":
            values[name] = world.rq_job.id if real else "no-such-job"
        elif name == "key":
            values[name] = world.rq_worker.key if real else "rq:worker:no-such-worker"
        else:
            values[name] = f"battery_{name}"  # word characters: django-rq's regex takes no others
    return values


def url(world, pattern, real=True):
    values = _values(world, pattern, real)
    if "(?P<url>" in pattern.route:
        return "/admin/battery-nowhere/"
    if "(?P<" in pattern.route or "^" in pattern.route:  # a regex (optional groups defeat reverse())
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)\??", lambda m: str(values[m.group(1)]), pattern.route)
        return "/" + path.replace("^", "").replace("$", "").replace("/?", "/").replace("\\", "")
    if pattern.name:
        return reverse(pattern.name, kwargs=values)
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), pattern.route)
