"""Requests, approvals and their refusals: who may do what, and the audit rows each action leaves."""
from datetime import timedelta

import pytest
from django.utils import timezone
from guardian.shortcuts import assign_perm

from audit.models import AuditEvent
from providers.models import Provider, Secret
from rotation.models import Approval, PolicyAssignment, RotationPolicy, RotationRequest
from rotation.policies import GeneratorError, effective_policy, generate_secure_secret
from rotation.reconcile import reconcile_rotations
from rotation.services import (
    RotationRefused,
    acknowledge_review,
    cancel_rotation,
    decide_rotation,
    request_rotation,
    retry_rotation,
    run_emergency_rotation,
)
from tests.conftest import make_user

pytestmark = pytest.mark.django_db
State = RotationRequest.State


@pytest.fixture
def secret(db):
    provider = Provider.objects.create(kind="vault", name="svc-test", settings={"address": "http://127.0.0.1:1"})
    return Secret.objects.create(provider=provider, name="app/db#password", environment="prod",
                                 tags={"team": "payments"})


@pytest.fixture
def policy(secret):
    policy = RotationPolicy.objects.create(name="two-eyes", required_approvals=2)
    PolicyAssignment.objects.create(policy=policy, provider=secret.provider)
    return policy


def events(kind, **filters):
    return list(AuditEvent.objects.filter(event_type=kind, **filters).order_by("sequence").values_list(
        "actor_name", "outcome",
                                                                                    "failure_reason"))


def test_a_request_needs_distinct_approvers_and_queues_on_the_last(secret, policy, role_users,
                                                                     django_capture_on_commit_callbacks):
    rotation = request_rotation(secret, actor=role_users["bob"], reason="  quarterly  ")
    assert rotation.state == State.PENDING_APPROVAL and rotation.reason == "quarterly"
    assert rotation.required_approvals == 2 and rotation.frozen_policy["policy"] == "two-eyes"
    decide_rotation(rotation, actor=role_users["charlie"], approve=True)
    with pytest.raises(RotationRefused, match="already decided"):
        decide_rotation(rotation, actor=role_users["charlie"], approve=True)  # one person counts once
    second = make_user("charlotte", "Approver")
    with django_capture_on_commit_callbacks() as callbacks:
        rotation = decide_rotation(rotation, actor=second, approve=True)
    assert rotation.state == State.QUEUED and rotation.approved_at and len(callbacks) >= 1
    assert [a for a, *_ in events("rotation.approved", outcome="success")] == ["charlie", "charlotte"]
    assert events("rotation.approved", outcome="failure") == [
        ("charlie", "failure", "You have already decided on this request.")]


def test_the_requester_cannot_approve_their_own_request(secret, policy, role_users):
    approver_who_requests = make_user("olivia", "Approver")
    assign_perm("providers.request_rotation", approver_who_requests, secret)
    rotation = request_rotation(secret, actor=approver_who_requests, reason="mine")
    with pytest.raises(RotationRefused, match="your own request"):
        decide_rotation(rotation, actor=approver_who_requests, approve=True)
    rotation.refresh_from_db()
    assert rotation.state == State.PENDING_APPROVAL and not Approval.objects.exists()
    assert events("rotation.approved") == [("olivia", "failure", "You cannot approve or reject your own request.")]


def test_approval_needs_the_permission_on_that_secret(secret, policy, role_users, mallory):
    rotation = request_rotation(secret, actor=role_users["bob"], reason="r")
    for outsider in (mallory, role_users["alice"], role_users["erin"]):
        with pytest.raises(RotationRefused, match="may not approve"):
            decide_rotation(rotation, actor=outsider, approve=True)
    # A grant on the provider is enough.
    assign_perm("providers.approve_provider_rotation", mallory, secret.provider)
    assert decide_rotation(rotation, actor=mallory, approve=True).approvals.count() == 1


def test_approver_groups_of_the_policy_are_enforced(secret, policy, role_users):
    from django.contrib.auth.models import Group

    policy.approver_groups.add(Group.objects.create(name="db-owners"))
    rotation = request_rotation(secret, actor=role_users["bob"], reason="r")
    with pytest.raises(RotationRefused, match="approver groups"):
        decide_rotation(rotation, actor=role_users["charlie"], approve=True)


def test_a_rejection_ends_the_request_and_needs_a_reason(secret, policy, role_users):
    rotation = request_rotation(secret, actor=role_users["bob"], reason="r")
    with pytest.raises(RotationRefused, match="Say why"):
        decide_rotation(rotation, actor=role_users["charlie"], approve=False)
    rotation = decide_rotation(rotation, actor=role_users["charlie"], approve=False, comment="not now")
    assert rotation.state == State.REJECTED and rotation.finished_at
    with pytest.raises(RotationRefused, match="rejected"):
        decide_rotation(rotation, actor=make_user("charlotte", "Approver"), approve=True)
    assert events("rotation.rejected", outcome="success") == [("charlie", "success", "")]


def test_expired_and_cancelled_requests_cannot_be_approved(secret, policy, role_users):
    rotation = request_rotation(secret, actor=role_users["bob"], reason="r")
    RotationRequest.objects.filter(pk=rotation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(RotationRefused, match="expired"):
        decide_rotation(rotation, actor=role_users["charlie"], approve=True)
    assert reconcile_rotations().expired == 1
    rotation.refresh_from_db()
    assert rotation.state == State.EXPIRED and events("rotation.expired")[0][:2] == ("", "success")

    second = request_rotation(secret, actor=role_users["bob"], reason="again")
    cancel_rotation(second, actor=role_users["bob"], reason="changed my mind")
    with pytest.raises(RotationRefused, match="cancelled"):
        decide_rotation(second, actor=role_users["charlie"], approve=True)
    assert events("rotation.cancelled") == [("bob", "success", "")]


def test_one_open_request_per_secret(secret, policy, role_users):
    request_rotation(secret, actor=role_users["bob"], reason="first")
    with pytest.raises(RotationRefused, match="already has an open rotation"):
        request_rotation(secret, actor=role_users["bob"], reason="second")
    assert RotationRequest.objects.count() == 1


def test_requests_need_permission_a_reason_and_a_policy(secret, role_users):
    with pytest.raises(RotationRefused, match="No rotation policy"):
        request_rotation(secret, actor=role_users["bob"], reason="r")
    policy = RotationPolicy.objects.create(name="p")
    PolicyAssignment.objects.create(policy=policy, secret=secret)
    with pytest.raises(RotationRefused, match="may not request"):
        request_rotation(secret, actor=role_users["alice"], reason="r")
    with pytest.raises(RotationRefused, match="Give a reason"):
        request_rotation(secret, actor=role_users["bob"], reason="   ")
    assert events("rotation.requested") == [("alice", "failure", "You may not request rotations of this secret.")]


def test_the_frozen_request_ignores_later_policy_changes(secret, policy, role_users):
    rotation = request_rotation(secret, actor=role_users["bob"], reason="r")
    policy.length, policy.grace_period_hours = 64, 1
    policy.save()
    rotation.refresh_from_db()
    assert rotation.frozen_policy["generator"]["length"] == 32 and rotation.frozen_policy["grace_period_hours"] == 24


def test_emergency_rotation_runs_at_once_and_opens_a_review(secret, policy, role_users):
    responder = make_user("frank", "Operator")
    with pytest.raises(RotationRefused, match="emergency"):
        run_emergency_rotation(secret, actor=responder, reason="leaked")
    assign_perm("providers.emergency_rotation", responder, secret)
    pending = request_rotation(secret, actor=role_users["bob"], reason="routine")
    with pytest.raises(RotationRefused, match="reason"):
        run_emergency_rotation(secret, actor=responder, reason="")
    rotation = run_emergency_rotation(secret, actor=responder, reason="key found in a public repo")
    pending.refresh_from_db()
    assert pending.state == State.CANCELLED  # superseded
    assert rotation.state == State.QUEUED and rotation.awaiting_review
    assert rotation.frozen_policy["grace_period_hours"] == 0
    with pytest.raises(RotationRefused, match="Someone other"):
        assign_perm("providers.approve_rotation", responder, secret)
        acknowledge_review(rotation, actor=responder, note="fine")
    rotation = acknowledge_review(rotation, actor=role_users["charlie"], note="rotated; repo history purged")
    assert not rotation.awaiting_review and rotation.reviewed_by == role_users["charlie"]
    assert events("rotation.review_acknowledged", outcome="success") == [("charlie", "success", "")]


def test_retry_is_for_stopped_runs_and_their_approvers(secret, policy, role_users):
    rotation = request_rotation(secret, actor=role_users["bob"], reason="r")
    with pytest.raises(RotationRefused, match="nothing to retry"):
        retry_rotation(rotation, actor=role_users["charlie"])
    RotationRequest.objects.filter(pk=rotation.pk).update(state=State.NEEDS_ATTENTION, resume_state=State.APPLYING,
                                                          attempts=5, error="NetworkError: x")
    with pytest.raises(RotationRefused, match="may not retry"):
        retry_rotation(rotation, actor=role_users["bob"])
    rotation = retry_rotation(rotation, actor=role_users["charlie"])
    assert (rotation.state, rotation.resume_state, rotation.attempts) == (State.FAILED_RETRYABLE, State.APPLYING, 0)


def test_policies_attach_to_a_secret_or_by_rule(secret, role_users):
    by_tag = RotationPolicy.objects.create(name="by-tag", interval_days=7)
    by_env = RotationPolicy.objects.create(name="by-env", interval_days=30)
    own = RotationPolicy.objects.create(name="own", interval_days=1)
    PolicyAssignment.objects.create(policy=by_env, environment="PROD", priority=50)
    PolicyAssignment.objects.create(policy=by_tag, tag_key="team", tag_value="payments", priority=10)
    assert effective_policy(secret) == by_tag  # the lower priority number wins among rules
    PolicyAssignment.objects.create(policy=own, secret=secret)
    assert effective_policy(secret) == own  # the secret's own assignment wins over every rule
    other = Secret.objects.create(provider=secret.provider, name="other#k", environment="dev")
    assert effective_policy(other) is None


def test_generated_values_use_every_class_and_honour_exclusions():
    for _ in range(50):
        value = generate_secure_secret(16, symbols=True, exclude="0OIl1'\"")
        assert len(value) == 16 and not set(value) & set("0OIl1'\"")
        assert any(c.islower() for c in value) and any(c.isupper() for c in value)
        assert any(c.isdigit() for c in value) and any(not c.isalnum() for c in value)
    assert len({generate_secure_secret(32) for _ in range(100)}) == 100
    with pytest.raises(GeneratorError):
        generate_secure_secret(8)
    with pytest.raises(GeneratorError):
        generate_secure_secret(16, lowercase=False, uppercase=False, digits=True, exclude="0123456789")
