"""Verifying a session: wrong codes are refused, audited, counted and throttled; recovery codes work once."""
import json
import logging
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from secretsadmin.mfa.models import RecoveryCodeDevice
from tests.foundation.mfa_helpers import code_for, counter, device_code, log_in, recovery_codes_on
from tests.foundation.test_mfa_enrolment import QUEUE, VERIFY, enrol

pytestmark = [pytest.mark.django_db, pytest.mark.real_mfa]
FAILURES = "secretsadmin_mfa_failures_total"


@pytest.fixture
def enrolled(client, role_users):
    """charlie (Approver) enrolled through the pages and signed in again with the password only."""
    log_in(client, "charlie")
    key, step, shown = enrol(client)
    client.post(reverse("logout"))
    assert log_in(client, "charlie").status_code == 302
    return {"key": key, "step": step, "codes": recovery_codes_on(shown.content.decode()),
            "device": TOTPDevice.objects.get(user=role_users["charlie"])}


def wrong_code(key, step):
    return f"{(int(code_for(key, after_step=step)[0]) + 1) % 1_000_000:06d}"


def test_a_wrong_code_is_refused_audited_and_counted(client, enrolled):
    before = counter(client, FAILURES, method="totp", reason="wrong_code")
    answer = client.post(VERIFY, {"code": wrong_code(enrolled["key"], enrolled["step"]), "next": QUEUE})
    assert answer.status_code == 403 and "That code is not right" in answer.content.decode()
    assert client.get(QUEUE).status_code == 302
    failed = AuditEvent.objects.get(event_type="auth.mfa_failed")
    assert (failed.actor_name, failed.outcome, failed.failure_reason) == ("charlie", "failure", "wrong code")
    assert failed.details == {"method": "totp", "purpose": "sign_in", "consecutive_failures": 1}
    assert counter(client, FAILURES, method="totp", reason="wrong_code") == before + 1


def test_after_a_wrong_code_even_the_right_one_waits_then_works(client, enrolled, settings):
    # Waits of 10, 20, 40... seconds instead of the shipped 1, 2, 4...: a slow machine stays inside the first.
    settings.OTP_TOTP_THROTTLE_FACTOR = 10
    throttled_before = counter(client, FAILURES, method="totp", reason="throttled")
    client.post(VERIFY, {"code": wrong_code(enrolled["key"], enrolled["step"])})
    right, _ = code_for(enrolled["key"], after_step=enrolled["step"])
    answer = client.post(VERIFY, {"code": right})  # inside django-otp's back-off
    assert answer.status_code == 429 and "Too many wrong codes" in answer.content.decode()
    assert 5 <= int(answer["Retry-After"]) <= 10
    throttled = AuditEvent.objects.filter(event_type="auth.mfa_failed").order_by("sequence").last()
    assert throttled.failure_reason == "throttled after wrong codes"
    assert counter(client, FAILURES, method="totp", reason="throttled") == throttled_before + 1
    # The back-off doubles with each wrong code: after four, eight times the factor.
    device = enrolled["device"]
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=4,
                                                   throttling_failure_timestamp=timezone.now())
    assert 70 <= int(client.post(VERIFY, {"code": right})["Retry-After"]) <= 80
    # Once the wait is over (moved into the past rather than slept through), the right code is accepted.
    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_timestamp=timezone.now() - timedelta(seconds=81))
    assert client.post(VERIFY, {"code": right, "next": QUEUE}).status_code == 302
    assert client.get(QUEUE).status_code == 200
    device.refresh_from_db()
    assert device.throttling_failure_count == 0


def test_a_code_is_accepted_once(client, role_users, enrolled):
    code = device_code(enrolled["device"])
    assert client.post(VERIFY, {"code": code}).status_code == 302
    client.post(reverse("logout"))
    log_in(client, "charlie")
    assert client.post(VERIFY, {"code": code}).status_code == 403  # replayed within its 30 seconds


def test_a_recovery_code_works_once_and_never_twice(client, enrolled):
    used_before = counter(client, "secretsadmin_mfa_recovery_codes_used_total")
    code = enrolled["codes"][3]
    answer = client.post(VERIFY, {"code": code.upper().replace("-", " "), "next": QUEUE}, follow=True)
    assert answer.status_code == 200 and answer.redirect_chain[-1][0] == QUEUE
    assert "You used a recovery code; 9 left" in answer.content.decode()
    used = AuditEvent.objects.get(event_type="auth.mfa_recovery_code_used")
    assert used.details == {"purpose": "sign_in", "remaining": 9} and used.actor_name == "charlie"
    assert counter(client, "secretsadmin_mfa_recovery_codes_used_total") == used_before + 1

    client.post(reverse("logout"))
    log_in(client, "charlie")
    again = client.post(VERIFY, {"code": code})
    assert again.status_code == 403 and client.get(QUEUE).status_code == 302
    refused = AuditEvent.objects.filter(event_type="auth.mfa_failed").get()
    assert refused.details["method"] == "recovery_code"
    assert RecoveryCodeDevice.objects.get().remaining() == 9


def test_new_recovery_codes_need_a_current_authenticator_code(client, enrolled):
    assert client.post(VERIFY, {"code": device_code(enrolled["device"])}).status_code == 302
    regenerate = reverse("mfa:recovery_codes")
    assert "Make new recovery codes" in client.get(regenerate).content.decode()
    refused = client.post(regenerate, {"code": wrong_code(enrolled["key"], enrolled["device"].last_t)})
    assert refused.status_code == 403 and not AuditEvent.objects.filter(
        event_type="auth.mfa_recovery_codes_regenerated").exists()
    TOTPDevice.objects.filter(pk=enrolled["device"].pk).update(throttling_failure_timestamp=None)
    answer = client.post(regenerate, {"code": device_code(enrolled["device"])})
    new_codes = recovery_codes_on(answer.content.decode())
    assert answer.status_code == 200 and len(new_codes) == 10 and not set(new_codes) & set(enrolled["codes"])
    assert "no-store" in answer["Cache-Control"]
    event = AuditEvent.objects.get(event_type="auth.mfa_recovery_codes_regenerated")
    assert event.details == {"recovery_codes_issued": 10}
    client.post(reverse("logout"))
    log_in(client, "charlie")
    assert client.post(VERIFY, {"code": enrolled["codes"][0]}).status_code == 403  # an old code: gone
    TOTPDevice.objects.filter(pk=enrolled["device"].pk).update(throttling_failure_timestamp=None)
    RecoveryCodeDevice.objects.update(throttling_failure_timestamp=None)
    assert client.post(VERIFY, {"code": new_codes[0]}).status_code == 302


def test_regenerating_codes_needs_a_verified_session(client, enrolled):
    answer = client.get(reverse("mfa:recovery_codes"))
    assert answer.status_code == 302 and answer["Location"].startswith(f"{VERIFY}?next=")


def test_no_key_or_code_reaches_the_audit_log_the_logs_or_a_url(client, enrolled, caplog):
    caplog.set_level(logging.DEBUG)
    locations = []
    for code in (wrong_code(enrolled["key"], enrolled["step"]), enrolled["codes"][0]):
        RecoveryCodeDevice.objects.update(throttling_failure_timestamp=None)
        TOTPDevice.objects.update(throttling_failure_timestamp=None)
        answer = client.post(VERIFY, {"code": code, "next": QUEUE})
        locations.append(answer.get("Location", ""))
    client.get(reverse("mfa:setup"))  # a key of a new authenticator is made and shown
    pending = TOTPDevice.objects.get(confirmed=False)
    secrets_seen = [enrolled["key"].hex(), enrolled["device"].key, pending.key, *enrolled["codes"],
                    *(code.replace("-", "") for code in enrolled["codes"])]
    rows = json.dumps(list(AuditEvent.objects.values()), default=str)
    logged = caplog.text + "".join(locations)
    assert AuditEvent.objects.filter(event_type__startswith="auth.mfa").count() >= 3
    for secret in secrets_seen:
        assert secret not in rows and secret not in logged
    # Six-digit codes could collide with digits of a time stamp: check the fields a code could be put in.
    for event in AuditEvent.objects.all():
        text = json.dumps(event.details) + event.failure_reason + event.target_text
        assert not any(code in text for code in (wrong_code(enrolled["key"], enrolled["step"]),))


@pytest.mark.parametrize("next_url", ["NaN", "logout", "//evil.example/", "https://evil.example/"])
def test_a_next_that_is_not_a_local_path_goes_to_the_dashboard(client, enrolled, next_url):
    code = code_for(enrolled["key"], after_step=enrolled["step"])[0]
    answer = client.post(VERIFY, {"code": code, "next": next_url})
    assert answer.status_code == 302 and answer["Location"] == reverse("dashboard:home")
    # Once verified, the page itself sends the session on, by the same rule.
    again = client.get(VERIFY, {"next": next_url})
    assert again.status_code == 302 and again["Location"] == reverse("dashboard:home")
