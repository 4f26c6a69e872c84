"""Signs a session out after SESSION_IDLE_SECONDS without a request; the absolute lifetime is SESSION_COOKIE_AGE."""
import time

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

import audit

SESSION_KEY = "secretsadmin_last_seen"
# Write the session at most this often: a database write per request would be the price of exactness.
TOUCH_SECONDS = 60


@receiver(user_logged_in, dispatch_uid="secretsadmin.idle_mark")
def mark_signed_in(sender, request, user, **kwargs):
    # Signing in is activity: without this the first page after it would write the session once more.
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_KEY] = int(time.time())


class IdleSessionMiddleware:
    """After AuthenticationMiddleware and AuditContextMiddleware, before LoginRequiredMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated:
            now = int(time.time())
            last_seen = request.session.get(SESSION_KEY)
            if isinstance(last_seen, int) and now - last_seen >= settings.SESSION_IDLE_SECONDS:
                audit.record("auth.session_expired", actor=user, target=("auth.user", user.pk, user.get_username()),
                             details={"idle_seconds": now - last_seen})
                request.session.flush()
                request.user = AnonymousUser()
            elif not isinstance(last_seen, int) or now - last_seen >= TOUCH_SECONDS:
                request.session[SESSION_KEY] = now
        return self.get_response(request)
