"""Sign-in throttling glue around django-axes: the lockout page, its audit event and the sign-in counters."""
import math

from axes.helpers import get_cool_off
from axes.signals import user_locked_out
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.shortcuts import render
from prometheus_client import Counter

import audit

# No username label: it would let anyone who can fail a sign-in grow the series without bound.
LOGIN_FAILURES = Counter("secretsadmin_login_failures", "Sign-in attempts refused (bad password or locked out)")
LOGIN_LOCKOUTS = Counter("secretsadmin_login_lockouts", "Sign-in lockouts started (username and address)")


@receiver(user_login_failed, dispatch_uid="secretsadmin.count_login_failed")
def count_login_failed(sender, credentials, request=None, **kwargs):
    LOGIN_FAILURES.inc()


@receiver(user_locked_out, dispatch_uid="secretsadmin.record_locked_out")
def record_locked_out(sender, request, username, ip_address, **kwargs):
    # axes also signals each attempt refused during a lockout; only the attempt that starts one has counted
    # failures (axes_failures_since_start), so the audit log and the counter see each lockout once.
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is None:
        return
    LOGIN_LOCKOUTS.inc()
    audit.record("auth.locked_out", actor=AnonymousUser(), outcome="failure", failure_reason="too many failed sign-ins",
                 target=("auth.user", "", str(username or "")[:150]),
                 details={"failures": failures, "cool_off_seconds": _cool_off_seconds(request)})


def _cool_off_seconds(request):
    cool_off = get_cool_off(request)
    return int(cool_off.total_seconds()) if cool_off else None


def lockout_response(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: a page saying what happened and when to try again, answered 429."""
    seconds = _cool_off_seconds(request)
    response = render(request, "registration/locked_out.html",
                      {"minutes": math.ceil(seconds / 60) if seconds else None}, status=429)
    if seconds:
        response["Retry-After"] = str(seconds)
    return response
