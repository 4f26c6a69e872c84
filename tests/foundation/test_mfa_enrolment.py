"""Two-factor sign-in, end to end through the real login and pages: enrol from the page, recovery codes, verify."""
import json
import re

import pytest
from django.apps import apps
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from secretsadmin.mfa.models import RecoveryCode
from tests.foundation.mfa_helpers import code_for, key_from_page, log_in, recovery_codes_on

pytestmark = [pytest.mark.django_db, pytest.mark.real_mfa]
QUEUE = reverse("rotation:approval_queue")
SETUP, VERIFY = reverse("mfa:setup"), reverse("mfa:verify")


def enrol(client, next_url=QUEUE):
    """From the set-up page, like a person: type the shown key into an app, enter its code. Returns (key, step,
    the recovery-codes page)."""
    page = client.get(SETUP, {"next": next_url})
    assert page.status_code == 200
    key = key_from_page(page.content.decode())
    code, step = code_for(key)
    answer = client.post(SETUP, {"code": code, "next": next_url})
    assert answer.status_code == 200, answer.content.decode()[:2000]
    return key, step, answer


def test_an_approver_enrols_on_first_sign_in_then_verifies_at_the_next(client, role_users):
    answer = log_in(client, "charlie")
    assert answer.status_code == 302
    # Whatever the approver opens first, the set-up page comes first, and brings them back afterwards.
    first = client.get(QUEUE)
    assert first.status_code == 302 and first["Location"] == f"{SETUP}?next=%2Frotations%2Fapprovals%2F"
    setup_page = client.get(first["Location"])
    html = setup_page.content.decode()
    assert "no-store" in setup_page["Cache-Control"]
    assert re.search(r'<img class="mfa-qr[^"]*" src="data:image/svg\+xml;[^"]+"', html), "no inline QR image"
    assert "style=" not in html and "<script>" not in html  # the CSP forbids inline style and script

    key, step, shown = enrol(client)
    codes = recovery_codes_on(shown.content.decode())
    assert len(codes) == len(set(codes)) == 10
    assert "no-store" in shown["Cache-Control"] and "shown only this once" in shown.content.decode()
    assert f'href="{QUEUE}"' in shown.content.decode()
    assert client.get(QUEUE).status_code == 200  # verified by the enrolment itself
    device = TOTPDevice.objects.get(user=role_users["charlie"])
    assert device.confirmed and device.bin_key == key
    enrolled = AuditEvent.objects.get(event_type="auth.mfa_enrolled")
    assert (enrolled.actor_name, enrolled.target_text) == ("charlie", "charlie")
    assert enrolled.details == {"replaced_earlier_authenticator": False, "recovery_codes_issued": 10}

    client.post(reverse("logout"))
    log_in(client, "charlie")
    refused = client.get(QUEUE)
    assert refused.status_code == 302 and refused["Location"].startswith(f"{VERIFY}?next=")
    verify_page = client.get(refused["Location"])
    assert "Two-factor verification" in verify_page.content.decode()
    code, _ = code_for(key, after_step=step)
    answer = client.post(VERIFY, {"code": code, "next": QUEUE})
    assert answer.status_code == 302 and answer["Location"] == QUEUE
    assert client.get(QUEUE).status_code == 200
    verified = AuditEvent.objects.get(event_type="auth.mfa_verified")
    assert verified.details == {"method": "totp", "purpose": "sign_in"} and verified.actor_name == "charlie"


def test_recovery_codes_are_stored_only_as_hashes(client, role_users):
    log_in(client, "erin")
    key, _, shown = enrol(client)
    codes = recovery_codes_on(shown.content.decode())
    assert RecoveryCode.objects.filter(device__user=role_users["erin"]).count() == 10
    for row in RecoveryCode.objects.all():
        assert row.code_hash.startswith("pbkdf2_sha256$")
    # Nowhere in the database: not in any table, with or without the separator, nor the key as typed in.
    dump = "".join(json.dumps(list(model.objects.values()), default=str)
                   for model in apps.get_models() if model._meta.managed and not model._meta.proxy)
    for code in codes:
        assert code not in dump and code.replace("-", "") not in dump


def test_a_wrong_first_code_leaves_two_factor_off(client, role_users):
    log_in(client, "charlie")
    page = client.get(SETUP).content.decode()
    code, _ = code_for(key_from_page(page))
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    answer = client.post(SETUP, {"code": wrong})
    assert answer.status_code == 403 and "That code is not right" in answer.content.decode()
    assert not TOTPDevice.objects.filter(user=role_users["charlie"], confirmed=True).exists()
    assert client.get(QUEUE).status_code == 302  # still not through
    failed = AuditEvent.objects.get(event_type="auth.mfa_failed")
    assert failed.details["purpose"] == "enrolment" and failed.outcome == "failure"
    # The same page (and key) is shown again, so the person can simply try the next code.
    assert key_from_page(answer.content.decode()) == key_from_page(page)


def test_a_code_that_is_not_six_digits_is_a_form_error(client, role_users):
    log_in(client, "charlie")
    client.get(SETUP)
    for typed in ("", "12345", "1234567", "abcdef", "<script>", "1" * 40):
        answer = client.post(SETUP, {"code": typed})
        page = answer.content.decode()
        assert answer.status_code == 400 and 'class="invalid-feedback d-block" role="alert"' in page, typed
        assert "<script>" not in page.split("<body>")[1]
    assert not AuditEvent.objects.filter(event_type__startswith="auth.mfa").exists()


def test_a_password_alone_cannot_add_an_authenticator_to_an_enrolled_account(client, role_users):
    log_in(client, "charlie")
    enrol(client)
    client.post(reverse("logout"))
    log_in(client, "charlie")  # someone who knows the password, but has no phone
    answer = client.get(SETUP)
    assert answer.status_code == 302 and answer["Location"].startswith(f"{VERIFY}?next=")
    assert client.post(SETUP, {"code": "123456"}).status_code == 302
    assert TOTPDevice.objects.filter(user=role_users["charlie"]).count() == 1


def test_a_verified_user_replaces_their_authenticator(client, role_users):
    log_in(client, "charlie")
    old_key, step, _ = enrol(client, next_url="/")
    page = client.get(SETUP).content.decode()
    assert "Set up a new authenticator app" in page
    new_key = key_from_page(page)
    assert new_key != old_key
    code, _ = code_for(new_key)
    answer = client.post(SETUP, {"code": code, "next": "/"})
    assert answer.status_code == 302  # recovery codes unchanged, so none to show
    assert [d.bin_key for d in TOTPDevice.objects.filter(user=role_users["charlie"])] == [new_key]
    replaced = AuditEvent.objects.filter(event_type="auth.mfa_enrolled").order_by("sequence").last()
    assert replaced.details == {"replaced_earlier_authenticator": True, "recovery_codes_issued": 0}


def test_a_redirect_after_verification_stays_on_this_site(client, role_users):
    log_in(client, "charlie")
    key, step, _ = enrol(client, next_url="https://evil.example/phish")
    client.post(reverse("logout"))
    log_in(client, "charlie")
    code, _ = code_for(key, after_step=step)
    answer = client.post(VERIFY, {"code": code, "next": "https://evil.example/phish"})
    assert answer.status_code == 302 and answer["Location"] == reverse("dashboard:home")
