"""Re-authentication before sensitive actions: the password (or an authenticator code) again unless recent."""
import time

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from secretsadmin.mfa.services import verify_code

SESSION_KEY = "secretsadmin_authenticated_at"


@receiver(user_logged_in, dispatch_uid="secretsadmin.reauth_mark")
def mark_authenticated(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        mark_recently_authenticated(request)


def mark_recently_authenticated(request):
    """A password or a second-factor code was just checked for this session."""
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
    mark_recently_authenticated(request)
    return True


def confirm_second_factor(request, code: str):
    """Check a current authenticator code of the signed-in user instead of the password (people who sign in
    through SSO have none). Returns the services' Outcome; a wrong code is audited, counted and throttled."""
    outcome = verify_code(request.user, code, purpose="reauth", allow_recovery=False)
    if outcome.ok:
        mark_recently_authenticated(request)
    return outcome
