"""What the journeys do on every page: the second factor at sign-in, the main navigation, a list's count."""
import re

from django.contrib.auth import get_user_model
from django_otp.plugins.otp_totp.models import TOTPDevice

from secretsadmin.mfa import mfa_required_for
from tests.foundation.mfa_helpers import device_code


def authenticator_for(username):
    """The TOTP device of someone who will be asked for a code at sign-in (the MFA roles, or anyone already
    enrolled), made here as if they had set up their phone earlier; None for anyone else."""
    user = get_user_model().objects.get(username=username)
    if not mfa_required_for(user):
        return None
    return TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="e2e phone", confirmed=True)


def enter_code(page, device):
    """On the two-factor page the password led to: type the code the phone would show now."""
    page.wait_for_url(re.compile(r"/account/two-factor/verify/"))
    page.get_by_label("Authentication code").fill(device_code(device))
    page.get_by_role("button", name="Verify").click()


def nav(page, label):
    """Click a section in the main navigation (the dashboard's figures link to the same places)."""
    # The name may go on with a count ("Approvals 1 waiting").
    name = re.compile(rf"^{re.escape(label)}\b")
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name=name).click()


def total(page):
    """The list's "N in total." figure, as an int (0 when the list is empty)."""
    found = page.get_by_text(re.compile(r"^\d+ in total\.$"))
    return int(found.inner_text().split()[0]) if found.count() else 0
