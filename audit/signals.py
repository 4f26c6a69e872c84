"""Sign-in, sign-out and failed sign-in, recorded from Django's auth signals (no other code path sees them all)."""
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from audit.recorder import record


@receiver(user_logged_in, dispatch_uid="audit.login")
def record_login(sender, request, user, **kwargs):
    record("auth.login", actor=user, target=("auth.user", user.pk, user.get_username()))


@receiver(user_logged_out, dispatch_uid="audit.logout")
def record_logout(sender, request, user, **kwargs):
    if user is not None:
        record("auth.logout", actor=user, target=("auth.user", user.pk, user.get_username()))


@receiver(user_login_failed, dispatch_uid="audit.login_failed")
def record_login_failed(sender, credentials, request=None, **kwargs):
    # Django has already masked the password in `credentials`; only the username is kept.
    username = str(credentials.get("username", ""))[:150]
    record("auth.login_failed", actor=AnonymousUser(), outcome="failure", failure_reason="invalid credentials",
           target=("auth.user", "", username))
