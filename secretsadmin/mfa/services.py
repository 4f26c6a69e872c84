"""Two-factor services: enrol, verify (TOTP or a recovery code), new recovery codes, reset; each one audited."""
import dataclasses
import math
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from prometheus_client import Counter

import audit
from secretsadmin.mfa.models import CODE_LENGTH, RecoveryCodeDevice, normalise

# Bounded labels only: method is totp | recovery_code, reason wrong_code | throttled. Never a username.
MFA_FAILURES = Counter("secretsadmin_mfa_failures",
                       "Second-factor codes refused (wrong, or throttled after wrong ones)", ["method", "reason"])
MFA_VERIFICATIONS = Counter("secretsadmin_mfa_verifications", "Second-factor codes accepted", ["method"])
RECOVERY_CODES_USED = Counter("secretsadmin_mfa_recovery_codes_used", "Recovery codes used instead of an authenticator")

TOTP, RECOVERY = "totp", "recovery_code"
# An enrolment page left open this long gets a new key: a key shown on a forgotten screen is not reused.
PENDING_LIFETIME = timedelta(hours=1)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """The result of checking a code. `error`: invalid (not a code at all), wrong, throttled, no_device."""

    device: object = None
    method: str = ""
    error: str = ""
    retry_after: int = 0          # seconds, when throttled
    remaining: int | None = None  # unused recovery codes, after one was used
    codes: list | None = None     # new recovery codes, to be shown once

    @property
    def ok(self):
        return self.device is not None


def _target(user):
    return ("auth.user", user.pk, user.get_username())


def code_kind(code):
    """TOTP for six digits, RECOVERY for something shaped like a recovery code, else None."""
    text = "".join(str(code or "").split()).replace("-", "")
    if len(text) == 6 and text.isdigit():
        return TOTP
    return RECOVERY if len(normalise(text)) == CODE_LENGTH else None


def totp_device(user, *, for_update=False):
    devices = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-pk")
    return (devices.select_for_update() if for_update else devices).first()


def recovery_device(user):
    return RecoveryCodeDevice.objects.filter(user=user).first()


def _refused(user, device, method, reason, *, purpose, retry_after=0):
    MFA_FAILURES.labels(method=method, reason=reason).inc()
    audit.record("auth.mfa_failed", actor=user, target=_target(user), outcome="failure",
                 failure_reason="throttled after wrong codes" if reason == "throttled" else "wrong code",
                 details={"method": method, "purpose": purpose,
                          "consecutive_failures": device.throttling_failure_count})
    return Outcome(method=method, error="wrong" if reason == "wrong_code" else "throttled", retry_after=retry_after)


def _check(user, device, code, method, *, purpose):
    """device.verify_token under django-otp's throttling; a refusal is audited and counted. Inside a transaction."""
    allowed, info = device.verify_is_allowed()
    if not allowed:
        locked_until = (info or {}).get("locked_until")
        wait = math.ceil((locked_until - timezone.now()).total_seconds()) if locked_until else 1
        return _refused(user, device, method, "throttled", purpose=purpose, retry_after=max(wait, 1))
    if not device.verify_token(code):
        return _refused(user, device, method, "wrong_code", purpose=purpose)
    MFA_VERIFICATIONS.labels(method=method).inc()
    return Outcome(device=device, method=method)


@transaction.atomic
def verify_code(user, code, *, purpose, allow_recovery=True):
    """Check a TOTP code (or, if allowed, a recovery code) of `user`; success and refusal are both audited.

    `purpose` says why (sign_in, step_up, reauth) in the audit details. The caller marks the session.
    """
    kind = code_kind(code)
    if kind is None or (kind == RECOVERY and not allow_recovery):
        return Outcome(error="invalid")
    if kind == TOTP:
        device = totp_device(user, for_update=True)
        if device is None:
            return Outcome(method=TOTP, error="no_device")
        outcome = _check(user, device, code, TOTP, purpose=purpose)
        if outcome.ok:
            audit.record("auth.mfa_verified", actor=user, target=_target(user),
                         details={"method": TOTP, "purpose": purpose})
        return outcome
    device = RecoveryCodeDevice.objects.select_for_update().filter(user=user).first()
    if device is None:
        return Outcome(method=RECOVERY, error="no_device")
    outcome = _check(user, device, code, RECOVERY, purpose=purpose)
    if outcome.ok:
        remaining = device.remaining()
        RECOVERY_CODES_USED.inc()
        audit.record("auth.mfa_recovery_code_used", actor=user, target=_target(user),
                     details={"purpose": purpose, "remaining": remaining})
        outcome = dataclasses.replace(outcome, remaining=remaining)
    return outcome


@transaction.atomic
def pending_device(user):
    """The authenticator being set up (unconfirmed: it verifies nobody until confirm_enrolment)."""
    TOTPDevice.objects.filter(user=user, confirmed=False, created_at__lt=timezone.now() - PENDING_LIFETIME).delete()
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


@transaction.atomic
def confirm_enrolment(user, code, *, actor):
    """Confirm the pending authenticator with its first code. It replaces any earlier one; recovery codes are
    issued when the user has none left (returned once in Outcome.codes, stored only hashed)."""
    if code_kind(code) != TOTP:
        return Outcome(error="invalid")
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None:
        return Outcome(method=TOTP, error="no_device")
    outcome = _check(user, device, code, TOTP, purpose="enrolment")
    if not outcome.ok:
        return outcome
    others = TOTPDevice.objects.filter(user=user).exclude(pk=device.pk)
    replaced = others.filter(confirmed=True).exists()
    others.delete()  # the earlier authenticator, and enrolment pages opened in other tabs
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = None
    recovery = recovery_device(user)
    if recovery is None or not recovery.remaining():
        recovery = recovery or RecoveryCodeDevice.objects.create(user=user, name="Recovery codes")
        codes = recovery.replace_codes()
    audit.record("auth.mfa_enrolled", actor=actor, target=_target(user),
                 details={"replaced_earlier_authenticator": replaced, "recovery_codes_issued": len(codes or [])})
    return dataclasses.replace(outcome, codes=codes)


@transaction.atomic
def regenerate_recovery_codes(user, code, *, actor):
    """Ten new recovery codes (the old ones stop working), confirmed with a current authenticator code."""
    if code_kind(code) != TOTP:
        return Outcome(error="invalid")
    device = totp_device(user, for_update=True)
    if device is None:
        return Outcome(method=TOTP, error="no_device")
    outcome = _check(user, device, code, TOTP, purpose="regenerate_recovery_codes")
    if not outcome.ok:
        return outcome
    recovery = recovery_device(user) or RecoveryCodeDevice.objects.create(user=user, name="Recovery codes")
    codes = recovery.replace_codes()
    audit.record("auth.mfa_recovery_codes_regenerated", actor=actor, target=_target(user),
                 details={"recovery_codes_issued": len(codes)})
    return dataclasses.replace(outcome, codes=codes)


@transaction.atomic
def reset_mfa(user, *, actor):
    """Remove every authenticator and recovery code of `user` (lost phone): they set up again at next sign-in."""
    authenticators = TOTPDevice.objects.filter(user=user, confirmed=True).count()
    TOTPDevice.objects.filter(user=user).delete()
    recovery = RecoveryCodeDevice.objects.filter(user=user)
    codes_left = sum(device.remaining() for device in recovery)
    recovery.delete()
    audit.record("auth.mfa_reset", actor=actor, target=_target(user),
                 details={"authenticators_removed": authenticators, "unused_recovery_codes_removed": codes_left})
    return authenticators


def status(user):
    """What the account page shows: the authenticator's dates and the recovery codes left."""
    device = totp_device(user)
    recovery = recovery_device(user)
    return {
        "device": device,
        "recovery_remaining": recovery.remaining() if recovery else 0,
        "recovery_issued": recovery.codes.count() if recovery else 0,
    }
