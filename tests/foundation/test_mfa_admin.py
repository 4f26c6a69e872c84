"""Administrators reset a lost phone (audited, from a verified session); no admin page ever shows a TOTP key."""
from base64 import b32encode
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from secretsadmin.mfa.models import RecoveryCodeDevice
from tests.conftest import mark_second_factor_verified
from tests.foundation.mfa_helpers import log_in
from tests.foundation.test_mfa_enrolment import QUEUE, SETUP, enrol

pytestmark = [pytest.mark.django_db, pytest.mark.real_mfa]
USERS, RESET = reverse("mfa:users"), reverse("mfa:reset")


@pytest.fixture
def charlie_enrolled(role_users):
    """charlie's own browser (a second client), enrolled and verified through the pages."""
    charlie = Client()
    log_in(charlie, "charlie")
    enrol(charlie)
    assert charlie.get(QUEUE).status_code == 200
    return charlie


def test_an_administrator_resets_a_lost_phone(client, role_users, charlie_enrolled):
    erin = role_users["erin"]
    client.force_login(erin)
    mark_second_factor_verified(client, erin)
    listing = client.get(USERS).content.decode()
    assert 'data-testid="mfa-user-charlie"' in listing and "Reset<span" in listing
    answer = client.post(RESET, {"username": "charlie"}, follow=True)
    assert "Two-factor authentication of charlie was reset" in answer.content.decode()
    charlie = role_users["charlie"]
    assert not TOTPDevice.objects.filter(user=charlie).exists()
    assert not RecoveryCodeDevice.objects.filter(user=charlie).exists()
    event = AuditEvent.objects.get(event_type="auth.mfa_reset")
    assert (event.actor_name, event.target_text) == ("erin", "charlie")
    assert event.details == {"authenticators_removed": 1, "unused_recovery_codes_removed": 10}
    # charlie's open session lost its verification with the device: he sets a new authenticator up.
    assert charlie_enrolled.get(QUEUE)["Location"].startswith(f"{SETUP}?next=")


def test_a_reset_needs_the_administrators_own_verified_session(client, role_users, settings, charlie_enrolled):
    settings.MFA_REQUIRED_ROLES = ["Approver"]  # even where Administrators could otherwise skip it
    client.force_login(role_users["erin"])
    assert client.get(reverse("dashboard:home")).status_code == 200
    assert client.get(USERS)["Location"].startswith(SETUP)
    assert client.post(RESET, {"username": "charlie"}).status_code == 303
    assert TOTPDevice.objects.filter(user=role_users["charlie"]).exists()
    assert not AuditEvent.objects.filter(event_type="auth.mfa_reset").exists()


def test_only_administrators_reset(client, role_users, charlie_enrolled):
    bob = role_users["bob"]
    client.force_login(bob)
    mark_second_factor_verified(client, bob)
    assert client.get(USERS).status_code == 403
    assert client.post(RESET, {"username": "charlie"}).status_code == 403
    assert TOTPDevice.objects.filter(user=role_users["charlie"]).exists()


def test_a_reset_of_nobody_or_of_oneself_changes_nothing(client, role_users):
    erin = role_users["erin"]
    client.force_login(erin)
    mark_second_factor_verified(client, erin)
    assert client.post(RESET, {"username": "nobody-here"}).status_code == 404
    assert client.post(RESET, {}).status_code == 404
    assert client.post(RESET, {"username": "erin"}).status_code == 302
    assert TOTPDevice.objects.filter(user=erin).exists()
    assert not AuditEvent.objects.filter(event_type="auth.mfa_reset").exists()


def test_the_admin_site_never_shows_a_totp_key(client, role_users, charlie_enrolled):
    root = get_user_model().objects.create_superuser("root", "root@example.invalid", "irrelevant-here-1")
    client.force_login(root)
    mark_second_factor_verified(client, root)
    device = TOTPDevice.objects.get(user=role_users["charlie"])
    shown_forms = (device.key, device.key.upper(), b32encode(device.bin_key).decode())
    for path in (reverse("admin:otp_totp_totpdevice_changelist"),
                 reverse("admin:otp_totp_totpdevice_change", args=[device.pk]),
                 reverse("admin:secretsadmin_recoverycodedevice_changelist")):
        page = client.get(path)
        assert page.status_code == 200, path
        assert not any(key in page.content.decode() for key in shown_forms), path
        assert "pbkdf2_sha256" not in page.content.decode()
    assert "charlie" in client.get(reverse("admin:otp_totp_totpdevice_changelist")).content.decode()
    # Nor can a device be made or edited there (a key would have to be typed in and shown).
    assert client.get(reverse("admin:otp_totp_totpdevice_add")).status_code == 403
    assert client.post(reverse("admin:otp_totp_totpdevice_change", args=[device.pk]), {"key": "00"}).status_code == 403
    assert client.get(f"/admin/otp_totp/totpdevice/{device.pk}/config/").status_code in (302, 404)


def test_the_account_page_shows_the_status_and_the_menu_links_to_it(client, role_users, charlie_enrolled):
    page = charlie_enrolled.get(reverse("dashboard:home")).content.decode()
    assert f'href="{reverse("mfa:account")}"' in page and "Two-factor authentication" in page
    account = charlie_enrolled.get(reverse("mfa:account")).content.decode()
    assert "<strong>On</strong>" in account and 'data-testid="recovery-remaining">10<' in account
    client.force_login(role_users["alice"])
    alice = client.get(reverse("mfa:account")).content.decode()
    assert "<strong>Off</strong>" in alice and "Set up two-factor authentication" in alice


def test_the_operator_can_reset_from_the_command_line(role_users, charlie_enrolled):
    out = StringIO()
    call_command("reset_mfa", "charlie", stdout=out)
    assert "charlie: two-factor sign-in reset (1 authenticator app(s) removed)" in out.getvalue()
    assert not TOTPDevice.objects.filter(user=role_users["charlie"]).exists()
    event = AuditEvent.objects.get(event_type="auth.mfa_reset")
    assert (event.actor_type, event.target_text) == ("system", "charlie")
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        call_command("reset_mfa", "nobody")
