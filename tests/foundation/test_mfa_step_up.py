"""Step-up: any role may browse without a second factor, but a reveal or an emergency rotation asks for one."""
import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from guardian.shortcuts import assign_perm

from audit.models import AuditEvent
from rotation.models import RotationRequest
from tests.conftest import TEST_PASSWORD, mark_second_factor_verified
from tests.foundation.mfa_helpers import code_for, counter, device_code, key_from_page, log_in
from tests.providers.conftest import vault  # noqa: F401  (fixtures, used by name)
from tests.providers.test_reveal import stored, url  # noqa: F401
from tests.rotation.pages import db_secret_fixture, provider_fixture, standard_policy_fixture  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.real_mfa]
REASON = "INC-5120 confirming the credential"


@pytest.fixture(autouse=True)
def own_reveal_rate(settings):
    # django-ratelimit keys its counters by rate and user id, and SQLite hands out the same ids in every test:
    # a rate of these tests' own keeps their reveals off the counters of tests/providers/test_reveal.py.
    settings.REVEAL_RATE = "100/h"


def test_a_viewer_without_mfa_browses_but_is_sent_to_enrol_before_a_reveal(client, role_users, stored):  # noqa: F811
    secret, value = stored
    assign_perm("providers.reveal_secret", role_users["alice"], secret)
    log_in(client, "alice")
    assert client.get(reverse("dashboard:home")).status_code == 200
    assert client.get(secret.get_absolute_url()).status_code == 200
    answer = client.get(url(secret))
    setup = f"{reverse('mfa:setup')}?next=%2Finventory%2F{secret.uuid}%2Freveal%2F"
    assert answer.status_code == 302 and answer["Location"] == setup
    posted = client.post(url(secret), {"reason": REASON})
    assert posted.status_code == 303 and value not in posted.content.decode()
    refused = AuditEvent.objects.get(event_type="secret.retrieval")
    assert (refused.outcome, refused.failure_reason) == ("failure", "two-factor verification required")
    assert not AuditEvent.objects.filter(event_type="secret.revealed").exists()

    # Enrol from the page she was sent to; it brings her back to the reveal, which now works.
    key = key_from_page(client.get(setup).content.decode())
    shown = client.post(setup, {"code": code_for(key)[0], "next": url(secret)})
    assert f'href="{url(secret)}"' in shown.content.decode()
    revealed = client.post(url(secret), {"reason": REASON})
    assert revealed.status_code == 200 and value in revealed.content.decode()


def test_an_enrolled_viewer_is_asked_for_the_code_at_sign_in(client, role_users):
    alice = role_users["alice"]
    TOTPDevice.objects.create(user=alice, name="phone", confirmed=True)
    log_in(client, "alice")
    answer = client.get(reverse("dashboard:home"))
    assert answer["Location"].startswith(reverse("mfa:verify"))


def test_an_emergency_rotation_needs_a_verified_session(client, role_users, db_secret):
    bob = role_users["bob"]  # an Operator: no second factor needed to browse
    assign_perm("providers.emergency_rotation", bob, db_secret)
    log_in(client, "bob")
    panel = client.get(db_secret.get_absolute_url()).content.decode()
    assert 'data-testid="emergency-needs-mfa"' in panel and "Rotate now" not in panel
    create = reverse("rotation:emergency_create", args=[db_secret.uuid])
    answer = client.post(create, {"reason": "key on pastebin"})
    back = f"{reverse('mfa:setup')}?next=%2Finventory%2F{db_secret.uuid}%2F"
    assert answer.status_code == 303 and answer["Location"] == back
    assert not RotationRequest.objects.exists()
    key = key_from_page(client.get(back).content.decode())
    assert client.post(back, {"code": code_for(key)[0], "next": db_secret.get_absolute_url()}).status_code == 200
    assert "Rotate now" in client.get(db_secret.get_absolute_url()).content.decode()
    assert client.post(create, {"reason": "key on pastebin"}).status_code == 302
    assert RotationRequest.objects.get().is_emergency

    # Signed in again (and so enrolled now): the code first, at sign-in.
    client.post(reverse("logout"))
    log_in(client, "bob")
    assert client.get(db_secret.get_absolute_url())["Location"].startswith(reverse("mfa:verify"))
    code = device_code(TOTPDevice.objects.get(user=bob))
    assert client.post(reverse("mfa:verify"), {"code": code}).status_code == 302
    assert "Rotate now" in client.get(db_secret.get_absolute_url()).content.decode()


def test_without_the_permission_the_answer_is_still_403_not_a_detour(client, role_users, db_secret):
    client.force_login(role_users["bob"])
    create = reverse("rotation:emergency_create", args=[db_secret.uuid])
    assert client.post(create, {"reason": "key on pastebin"}).status_code == 403


@pytest.fixture
def alice_verified(client, role_users, stored, settings):  # noqa: F811
    """alice may reveal, her session passed the second factor, and every reveal asks to re-authenticate."""
    settings.REAUTH_SECONDS = 0
    assign_perm("providers.reveal_secret", role_users["alice"], stored[0])
    client.force_login(role_users["alice"])
    return mark_second_factor_verified(client, role_users["alice"])


def test_the_reveal_accepts_a_current_code_instead_of_the_password(client, stored, alice_verified):  # noqa: F811
    secret, value = stored
    page = client.get(url(secret)).content.decode()
    assert 'name="password"' in page and 'name="otp_code"' in page
    answer = client.post(url(secret), {"reason": REASON, "otp_code": device_code(alice_verified)})
    assert answer.status_code == 200 and value in answer.content.decode()
    assert AuditEvent.objects.get(event_type="auth.mfa_verified").details == {"method": "totp", "purpose": "reauth"}


def test_a_wrong_code_on_the_reveal_is_refused_audited_and_counted(client, stored, alice_verified,  # noqa: F811
                                                                   settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 10  # a 10-second back-off after the wrong code: no race on a slow machine
    secret, value = stored
    before = counter(client, "secretsadmin_mfa_failures_total", method="totp")
    wrong = f"{(int(device_code(alice_verified)) + 1) % 1_000_000:06d}"
    answer = client.post(url(secret), {"reason": REASON, "otp_code": wrong})
    assert answer.status_code == 403 and value not in answer.content.decode()
    assert "That code is not right" in answer.content.decode()
    assert AuditEvent.objects.get(event_type="auth.mfa_failed").details["purpose"] == "reauth"
    retrieval = AuditEvent.objects.get(event_type="secret.retrieval")
    assert retrieval.failure_reason == "re-authentication failed"
    assert counter(client, "secretsadmin_mfa_failures_total", method="totp") == before + 1
    again = client.post(url(secret), {"reason": REASON, "otp_code": device_code(alice_verified)})
    assert again.status_code == 429 and value not in again.content.decode()  # throttled after the wrong one


def test_a_recovery_code_does_not_re_authenticate_a_reveal(client, stored, alice_verified):  # noqa: F811
    secret, value = stored
    answer = client.post(url(secret), {"reason": REASON, "otp_code": "abcde-fghjk"})
    assert answer.status_code == 403 and value not in answer.content.decode()


def test_someone_without_a_password_re_authenticates_with_a_code(client, role_users, stored, settings):  # noqa: F811
    settings.REAUTH_SECONDS = 0
    secret, value = stored
    sso = get_user_model().objects.create_user("sso-user")  # signed up through SSO: no usable password
    assign_perm("providers.view_secret", sso, secret)
    assign_perm("providers.reveal_secret", sso, secret)
    client.force_login(sso)
    device = mark_second_factor_verified(client, sso)
    page = client.get(url(secret)).content.decode()
    assert 'name="password"' not in page and 'name="otp_code"' in page
    missing = client.post(url(secret), {"reason": REASON, "password": TEST_PASSWORD})
    assert missing.status_code == 403 and "Enter a code from your authenticator app" in missing.content.decode()
    answer = client.post(url(secret), {"reason": REASON, "otp_code": device_code(device)})
    assert answer.status_code == 200 and value in answer.content.decode()
