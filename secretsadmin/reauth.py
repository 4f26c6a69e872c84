"""Re-authentication before sensitive actions: the password again unless it was entered in the last few minutes."""
import time

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

SESSION_KEY = "secretsadmin_authenticated_at"


@receiver(user_logged_in, dispatch_uid="secretsadmin.reauth_mark")
def mark_authenticated(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_KEY] = int(time.time())


def recently_authenticated(request) -> bool:
    """True when the signed-in user entered the password within REAUTH_SECONDS (0: never counts as recent)."""
    at = request.session.get(SESSION_KEY)
    return isinstance(at, int) and time.time() - at < settings.REAUTH_SECONDS


def confirm_password(request, password: str) -> bool:
    """Check the signed-in user's password through the authentication backends, so django-axes counts a
    wrong one towards the sign-in lockout and it is audited as a failed sign-in."""
    if not password:
        return False
    user = authenticate(request, username=request.user.get_username(), password=password)
    if user is None or user.pk != request.user.pk:
        return False
    request.session[SESSION_KEY] = int(time.time())
    return True
