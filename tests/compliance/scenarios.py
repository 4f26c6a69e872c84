"""Data sets that make each evidence check pass, partially pass or fail (for the period ending today).

SCENARIOS[(check slug, status)] is a function (Evidence) -> threshold overrides for that check (or None).
Checks whose rule has no partial outcome (a must-be-zero rule) have no partial scenario.
"""
from django.contrib.auth.models import Group, Permission
from django_otp.plugins.otp_totp.models import TOTPDevice
from guardian.shortcuts import assign_perm

from rotation.models import RotationRequest
from secretsadmin import roles

SCENARIOS = {}


def scenario(slug, status):
    def register(function):
        SCENARIOS[(slug, status)] = function
        return function

    return register


def _governed(ev, count, *, rotated, overdue=0, **policy):
    provider = ev.provider()
    ev.policy(provider=provider, interval_days=90, **policy)
    ev.secrets(provider, count, rotated=rotated)
    ev.secrets(provider, overdue, rotated=200)
    return provider


# ---------------------------------------------------------------- rotation
@scenario("rotation_within_interval", "pass")
def _(ev):
    _governed(ev, 20, rotated=10)


@scenario("rotation_within_interval", "partial")
def _(ev):
    _governed(ev, 9, rotated=10, overdue=1)  # 90%


@scenario("rotation_within_interval", "fail")
def _(ev):
    _governed(ev, 1, rotated=10, overdue=1)  # 50%


@scenario("rotation_policy_coverage", "pass")
def _(ev):
    _governed(ev, 3, rotated=10)


@scenario("rotation_policy_coverage", "partial")
def _(ev):
    _governed(ev, 19, rotated=10)
    ev.secret(ev.provider(), rotated=10)  # 95% governed


@scenario("rotation_policy_coverage", "fail")
def _(ev):
    _governed(ev, 1, rotated=10)
    ev.secret(ev.provider(), rotated=10)


@scenario("generator_strength", "pass")
def _(ev):
    ev.policy(provider=ev.provider(), length=32)


@scenario("generator_strength", "partial")
def _(ev):
    ev.policy(provider=ev.provider(), length=20)


@scenario("generator_strength", "fail")
def _(ev):
    ev.policy(provider=ev.provider(), length=16, use_uppercase=False, use_digits=False)


# ---------------------------------------------------------------- approvals
def _operator_and_approver(ev):
    # Named afresh each time, so that scenarios combine into one data set.
    return ev.user(role=roles.OPERATOR), ev.user(role=roles.APPROVER)


@scenario("rotations_approved", "pass")
def _(ev):
    operator, approver = _operator_and_approver(ev)
    ev.run(ev.secret(ev.provider()), requester=operator, approvers=[approver])


@scenario("rotations_approved", "fail")
def _(ev):
    operator, approver = _operator_and_approver(ev)
    secret = ev.secret(ev.provider())
    ev.run(secret, requester=operator, approvers=[approver], created=5, started=4)
    ev.run(secret, requester=operator, approvers=[])  # ran with none of its one required approval


def _self_attempts(ev, count):
    operator, approver = _operator_and_approver(ev)
    run = ev.run(ev.secret(ev.provider()), requester=operator, approvers=[approver])
    for _ in range(count):
        ev.event("rotation.approved", actor=operator, target=run, secret=run.secret, outcome="failure",
                 failure_reason="You cannot approve or reject your own request.", days=1.8)
    return operator, run


@scenario("self_approval_refused", "pass")
def _(ev):
    _self_attempts(ev, 1)


@scenario("self_approval_refused", "partial")
def _(ev):
    _self_attempts(ev, 4)


@scenario("self_approval_refused", "fail")
def _(ev):
    operator, run = _self_attempts(ev, 0)
    ev.approval(run, operator)


def _emergency(ev, *, created, reviewed=None):
    operator, approver = _operator_and_approver(ev)
    ev.run(ev.secret(ev.provider()), requester=operator, trigger="emergency", required=0, created=created,
           started=created, reviewed_by=approver if reviewed is not None else None, reviewed=reviewed)


@scenario("emergency_reviews", "pass")
def _(ev):
    _emergency(ev, created=5, reviewed=4)


@scenario("emergency_reviews", "partial")
def _(ev):
    _emergency(ev, created=2)


@scenario("emergency_reviews", "fail")
def _(ev):
    _emergency(ev, created=20)


# ---------------------------------------------------------------- audit
def _audited_run(ev, *, audited=True):
    operator, approver = _operator_and_approver(ev)
    run = ev.run(ev.secret(ev.provider()), requester=operator, approvers=[approver])
    if audited:
        ev.run_events(run)
    return run


@scenario("audit_coverage", "pass")
def _(ev):
    _audited_run(ev)
    provider = ev.provider()
    ev.secret(provider, seen=5)
    ev.event("inventory.synced", actor="worker", target=provider, provider=provider.name, days=4)


@scenario("audit_coverage", "partial")
def _(ev):
    run = _audited_run(ev, audited=False)
    ev.event("rotation.requested", actor=run.requested_by, target=run, secret=run.secret)
    ev.event("rotation.approved", actor=run.approvals.get().approver, target=run, secret=run.secret)
    return {"partial_missing_percent": 50.0}  # 1 of 3 missing: the rotation itself


@scenario("audit_coverage", "fail")
def _(ev):
    _audited_run(ev, audited=False)


def _rows(ev, complete, incomplete):
    user = ev.user()
    for _ in range(complete):
        ev.login(user)
    for _ in range(incomplete):
        ev.event("secret.retrieval", actor=user)  # no provider or secret: "where" is missing


@scenario("audit_record_content", "pass")
def _(ev):
    _rows(ev, 3, 0)


@scenario("audit_record_content", "partial")
def _(ev):
    _rows(ev, 2, 1)
    return {"partial_incomplete_percent": 50.0}


@scenario("audit_record_content", "fail")
def _(ev):
    _rows(ev, 1, 1)


@scenario("audit_chain_verified", "pass")
def _(ev):
    ev.verification(days=0.5)


@scenario("audit_chain_verified", "partial")
def _(ev):
    ev.verification(days=10)


@scenario("audit_chain_verified", "fail")
def _(ev):
    ev.verification(days=10)
    ev.verification(ok=False, days=1)


@scenario("audit_retention", "pass")
def _(ev):
    ev.login(ev.user(), days=3)


@scenario("audit_retention", "partial")
def _(ev):
    import tempfile
    from pathlib import Path

    from audit.retention import archive_and_prune

    user = ev.user()
    old = ev.login(user, days=400)
    ev.login(user, days=3)
    with tempfile.TemporaryDirectory() as directory:
        archive_and_prune(through_sequence=old["sequence"], output=Path(directory) / "archive.jsonl", actor=user)


@scenario("audit_retention", "fail")
def _(ev):
    ev.login(ev.user(), days=3)
    return {"min_days": 3650}  # the test configuration keeps 365


@scenario("audit_review_activity", "pass")
def _(ev):
    ev.event("audit.exported", actor=ev.user("auditor", roles.AUDITOR), days=3)


@scenario("audit_review_activity", "partial")
def _(ev):
    ev.event("audit.chain_verified", actor="system", days=3)


@scenario("audit_review_activity", "fail")
def _(ev):
    ev.login(ev.user(), days=3)


# ---------------------------------------------------------------- access
def _reveal_holder(ev, *, revealed):
    user = ev.user("revealer")
    secret = ev.secret(ev.provider())
    assign_perm("reveal_secret", user, secret)
    if revealed:
        ev.event("secret.revealed", actor=user, secret=secret, days=5)
    return user


@scenario("access_privileged_holders", "pass")
def _(ev):
    _reveal_holder(ev, revealed=True)


@scenario("access_privileged_holders", "partial")
def _(ev):
    _reveal_holder(ev, revealed=False)


@scenario("access_privileged_holders", "fail")
def _(ev):
    breakglass = Group.objects.create(name="Break glass")
    breakglass.permissions.add(Permission.objects.get(codename="reveal_secret"))
    _reveal_holder(ev, revealed=True).groups.add(breakglass)


@scenario("access_review_recent", "pass")
def _(ev):
    ev.access_review(ev.user(), days=10)


@scenario("access_review_recent", "partial")
def _(ev):
    ev.access_review(ev.user(), days=100)


@scenario("access_review_recent", "fail")
def _(ev):
    ev.access_review(ev.user(), days=200)


@scenario("separation_of_duties", "pass")
def _(ev):
    operator, approver = _operator_and_approver(ev)
    ev.run(ev.secret(ev.provider()), requester=operator, approvers=[approver])


@scenario("separation_of_duties", "partial")
def _(ev):
    ev.user("both", roles.OPERATOR).groups.add(Group.objects.get(name=roles.APPROVER))


@scenario("separation_of_duties", "fail")
def _(ev):
    operator, _ = _operator_and_approver(ev)
    ev.run(ev.secret(ev.provider()), requester=operator, approvers=[operator])


def _accounts(ev, active, dormant):
    for _ in range(active):
        ev.login(ev.user(joined=400), days=5)
    for _ in range(dormant):
        ev.login(ev.user(joined=400), days=120)


@scenario("dormant_accounts", "pass")
def _(ev):
    _accounts(ev, 2, 0)


@scenario("dormant_accounts", "partial")
def _(ev):
    _accounts(ev, 1, 1)
    return {"partial_percent": 50.0}


@scenario("dormant_accounts", "fail")
def _(ev):
    _accounts(ev, 1, 1)


def _sign_ins(ev, failures):
    ev.login(ev.user())
    ev.failed_logins("mallory", failures)


@scenario("login_monitoring", "pass")
def _(ev):
    _sign_ins(ev, 2)


@scenario("login_monitoring", "partial")
def _(ev):
    _sign_ins(ev, 10)


@scenario("login_monitoring", "fail")
def _(ev):
    _sign_ins(ev, 50)


def _privileged(ev, enrolled, without):
    for index in range(enrolled + without):
        user = ev.user(role=roles.APPROVER if index % 2 else roles.ADMINISTRATOR)
        if index < enrolled:
            TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    ev.user(role=roles.VIEWER)  # not privileged: needs no authenticator for this check


@scenario("mfa_privileged", "pass")
def _(ev):
    _privileged(ev, 3, 0)


@scenario("mfa_privileged", "partial")
def _(ev):
    _privileged(ev, 9, 1)  # 90%


@scenario("mfa_privileged", "fail")
def _(ev):
    _privileged(ev, 1, 1)


# ---------------------------------------------------------------- providers
@scenario("provider_tls", "pass")
def _(ev):
    ev.provider(kind="aws")
    ev.provider(kind="vault")


@scenario("provider_tls", "partial")
def _(ev):
    ev.provider(kind="aws")
    ev.provider(kind="vault", address="http://127.0.0.1:8200")


@scenario("provider_tls", "fail")
def _(ev):
    ev.provider(kind="vault", address="http://vault.example.internal:8200")


@scenario("provider_encryption_at_rest", "pass")
def _(ev):
    ev.provider(kind="aws")
    ev.provider(kind="azure")


@scenario("provider_encryption_at_rest", "partial")
def _(ev):
    ev.provider(kind="aws", kms_key_id="alias/secrets")
    ev.provider(kind="aws")
    return {"require_customer_managed_keys": True}


@scenario("provider_encryption_at_rest", "fail")
def _(ev):
    ev.provider(kind="gcp")
    return {"require_customer_managed_keys": True}


def _synced(ev, hours):
    provider = ev.provider()
    ev.event("inventory.synced", actor="worker", target=provider, provider=provider.name, days=hours / 24)


@scenario("provider_sync_recent", "pass")
def _(ev):
    _synced(ev, 0)  # at most 24 hours before the end of today


@scenario("provider_sync_recent", "partial")
def _(ev):
    _synced(ev, 30)


@scenario("provider_sync_recent", "fail")
def _(ev):
    _synced(ev, 100)


# ---------------------------------------------------------------- monitoring
@scenario("alert_rules_deployed", "pass")
def _(ev):
    return None  # the shipped deploy/alerts/prometheus-rules.yml


@scenario("alert_rules_deployed", "partial")
def _(ev):
    return {"expected_alerts": ["SecretRotationFailure", "NoSuchAlert"]}


@scenario("alert_rules_deployed", "fail")
def _(ev):
    return {"expected_alerts": ["NoSuchAlert"]}


def _needs_attention(ev, *, days, retried=None):
    operator, approver = _operator_and_approver(ev)
    run = ev.run(ev.secret(ev.provider()), requester=operator, approvers=[approver],
                 state=RotationRequest.State.NEEDS_ATTENTION, created=days + 1, started=days + 0.5)
    ev.event("rotation.needs_attention", actor="worker", target=run, secret=run.secret, outcome="failure",
             failure_reason="NetworkError", days=days)
    if retried is not None:
        ev.event("rotation.retried", actor=approver, target=run, secret=run.secret, days=retried)


@scenario("rotation_failures_resolved", "pass")
def _(ev):
    _needs_attention(ev, days=3, retried=2)


@scenario("rotation_failures_resolved", "partial")
def _(ev):
    _needs_attention(ev, days=0.5)


@scenario("rotation_failures_resolved", "fail")
def _(ev):
    _needs_attention(ev, days=10)


def _drift(ev, *, days, followed_up=None):
    secret = ev.secret(ev.provider())
    ev.event("secret.changed_out_of_band", actor="worker", secret=secret, days=days,
             details={"previous_version": "1", "current_version": "2"})
    if followed_up is not None:
        ev.run(secret, requester=ev.user(), state=RotationRequest.State.PENDING_APPROVAL, created=followed_up,
               started=None)


@scenario("drift_investigated", "pass")
def _(ev):
    _drift(ev, days=3, followed_up=2)


@scenario("drift_investigated", "partial")
def _(ev):
    _drift(ev, days=1)


@scenario("drift_investigated", "fail")
def _(ev):
    _drift(ev, days=20)
