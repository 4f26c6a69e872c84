"""Two-factor sign-in (TOTP through django-otp, hashed recovery codes): who must use it and whether a session has."""
from django.conf import settings

from secretsadmin.roles import role_names_of


def is_verified(user) -> bool:
    """True when this request's session passed the second factor (django-otp's OTPMiddleware sets it up)."""
    check = getattr(user, "is_verified", None)
    return bool(user.is_authenticated and check is not None and check())


def has_totp_device(user) -> bool:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return user.is_authenticated and TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def mfa_required_for(user) -> bool:
    """Superusers, members of MFA_REQUIRED_ROLES, and anyone who has set up an authenticator must verify each
    session before they reach anything else; everyone else only before a reveal or an emergency rotation."""
    if not user.is_authenticated:
        return False
    if user.is_superuser or set(role_names_of(user)) & set(settings.MFA_REQUIRED_ROLES):
        return True
    return has_totp_device(user)
