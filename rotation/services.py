"""Rotation requests and their decisions: every change here is audited in the same transaction.

Refusals (own request, no permission, a request no longer open) raise RotationRefused with a message
meant for the person, and are audited as failures outside the refused change's transaction.
"""
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

import audit
from providers.models import Secret
from rotation import notifications
from rotation.jobs import enqueue_run
from rotation.models import Approval, RotationRequest
from rotation.policies import effective_policy, freeze_policy
from secretsadmin.permissions import has_permission

State = RotationRequest.State
Trigger = RotationRequest.Trigger
MAX_REASON = 2000


class RotationRefused(Exception):
    """An action on a rotation that is not allowed; the message is shown to the person as it is."""


def _clean_reason(reason, what="a reason"):
    reason = (reason or "").strip()
    if not reason:
        raise RotationRefused(f"Give {what}.")
    if len(reason) > MAX_REASON:
        raise RotationRefused(f"Keep it under {MAX_REASON} characters.")
    return reason


def _refuse(event_type, request_or_secret, *, actor, message, details=None):
    """Audit the refusal (its own transaction, so it survives the caller's rollback) and raise."""
    secret = getattr(request_or_secret, "secret", request_or_secret)
    with transaction.atomic():
        audit.record(event_type, actor=actor, target=request_or_secret, provider=secret.provider.name,
                     secret_name=secret.name, outcome="failure", failure_reason=message, details=details or {})
    raise RotationRefused(message)


def _audit(event_type, rotation, *, actor, **details):
    audit.record(event_type, actor=actor, target=rotation, provider=rotation.secret.provider.name,
                 secret_name=rotation.secret.name, details=details)


def _frozen(policy, *, emergency=False):
    frozen = freeze_policy(policy)
    if policy is not None:
        frozen["approver_groups"] = sorted(policy.approver_groups.values_list("pk", flat=True))
    if emergency:
        # A suspected compromise: the old value must stop working as soon as the new one is verified.
        frozen["grace_period_hours"] = 0
    return frozen


def _create(secret, *, actor, reason, trigger, policy, required, state, review_required=False):
    now = timezone.now()
    try:
        with transaction.atomic():
            rotation = RotationRequest.objects.create(
                secret=secret, policy=policy, frozen_policy=_frozen(policy, emergency=trigger == Trigger.EMERGENCY),
                requested_by=actor if getattr(actor, "is_authenticated", False) else None,
                requested_by_name=actor.get_username() if getattr(actor, "is_authenticated", False) else str(actor),
                reason=reason, trigger=trigger, state=state, required_approvals=required,
                expires_at=now + timedelta(hours=settings.ROTATION_APPROVAL_TTL_HOURS),
                approved_at=now if state == State.QUEUED else None, review_required=review_required,
            )
    except IntegrityError:
        raise RotationRefused("This secret already has an open rotation; finish or cancel that one first.") from None
    return rotation


def request_rotation(secret, *, actor, reason):
    """An Operator asks for a rotation; approvers are told."""
    if not has_permission(actor, "providers.request_rotation", secret):
        _refuse("rotation.requested", secret, actor=actor, message="You may not request rotations of this secret.")
    reason = _clean_reason(reason)
    if secret.status != Secret.Status.ACTIVE:
        raise RotationRefused(f"This secret is {secret.get_status_display().lower()}; only active secrets rotate.")
    policy = effective_policy(secret)
    if policy is None:
        raise RotationRefused("No rotation policy applies to this secret; an Administrator must assign one first.")
    # Zero approvals is for scheduled runs only: a person's request always needs someone else's yes.
    required = max(1, policy.required_approvals)
    with transaction.atomic():
        rotation = _create(secret, actor=actor, reason=reason, trigger=Trigger.MANUAL, policy=policy,
                           required=required, state=State.PENDING_APPROVAL)
        _audit("rotation.requested", rotation, actor=actor, reason=reason, trigger=rotation.trigger,
               policy=policy.name, required_approvals=required)
    notifications.request_filed(rotation)
    return rotation


@transaction.atomic
def request_scheduled_rotation(secret, policy, *, reason="Past its rotation interval"):
    """The scheduler's request: auto-approved when the policy says so, else it waits like any other."""
    auto = policy.auto_approve_scheduled
    required = 0 if auto else max(1, policy.required_approvals)
    rotation = _create(secret, actor="system", reason=reason, trigger=Trigger.SCHEDULED, policy=policy,
                       required=required, state=State.QUEUED if auto else State.PENDING_APPROVAL)
    _audit("rotation.requested", rotation, actor="system", reason=reason, trigger=rotation.trigger,
           policy=policy.name, required_approvals=required)
    if auto:
        _audit("rotation.approved", rotation, actor="system", approvals=0, auto_approved=True)
        enqueue_run(rotation)
    else:
        notifications.request_filed(rotation)
    return rotation


def run_emergency_rotation(secret, *, actor, reason):
    """Suspected compromise: rotate now without approvals; a post-incident review stays open until acknowledged."""
    if not has_permission(actor, "providers.emergency_rotation", secret):
        _refuse("rotation.requested", secret, actor=actor, details={"trigger": Trigger.EMERGENCY},
                message="You may not run emergency rotations of this secret.")
    reason = _clean_reason(reason, "the reason for the emergency")
    with transaction.atomic():
        # A pending request is superseded: the emergency run replaces it.
        for pending in RotationRequest.objects.select_for_update().filter(
                secret=secret, state__in=[State.PENDING_APPROVAL, State.APPROVED, State.QUEUED]):
            pending.state, pending.finished_at = State.CANCELLED, timezone.now()
            pending.error = "Superseded by an emergency rotation."
            pending.save(update_fields=["state", "finished_at", "error", "updated_at"])
            _audit("rotation.cancelled", pending, actor=actor, reason="superseded by an emergency rotation")
        rotation = _create(secret, actor=actor, reason=reason, trigger=Trigger.EMERGENCY,
                           policy=effective_policy(secret), required=0, state=State.QUEUED, review_required=True)
        _audit("rotation.requested", rotation, actor=actor, reason=reason, trigger=rotation.trigger,
               policy=rotation.frozen_policy.get("policy", ""), required_approvals=0, review_required=True)
        enqueue_run(rotation)
    notifications.request_filed(rotation)
    return rotation


def _approval_refusal(rotation, actor):
    """Why `actor` may not decide on `rotation` now, or None."""
    if rotation.state != State.PENDING_APPROVAL:
        return f"This request is {rotation.get_state_display().lower()}; it can no longer be decided."
    if rotation.expires_at and rotation.expires_at <= timezone.now():
        return "This request has expired; file a new one."
    if rotation.requested_by_id == actor.pk:
        return "You cannot approve or reject your own request."
    if not has_permission(actor, "providers.approve_rotation", rotation.secret):
        return "You may not approve rotations of this secret."
    groups = rotation.frozen_policy.get("approver_groups") or []
    if groups and not actor.groups.filter(pk__in=groups).exists():
        return "The policy for this secret names other approver groups."
    if rotation.approvals.filter(approver=actor).exists():
        return "You have already decided on this request."
    return None


def decide_rotation(rotation, *, actor, approve, comment=""):
    """Approve or reject. Enough distinct approvals queue the run; one rejection ends the request."""
    event = "rotation.approved" if approve else "rotation.rejected"
    comment = (comment or "").strip()[:MAX_REASON]
    if not approve and not comment:
        raise RotationRefused("Say why you reject this request.")
    refusal = None
    with transaction.atomic():
        # The row lock serialises concurrent decisions, so two simultaneous approvals queue one run.
        locked = RotationRequest.objects.select_for_update().select_related("secret__provider").get(pk=rotation.pk)
        refusal = _approval_refusal(locked, actor)
        if refusal is None:
            Approval.objects.create(request=locked, approver=actor, comment=comment,
                                    decision=Approval.Decision.APPROVED if approve else Approval.Decision.REJECTED)
            approvals = locked.approvals.filter(decision=Approval.Decision.APPROVED).count()
            _audit(event, locked, actor=actor, comment=comment, approvals=approvals,
                   required_approvals=locked.required_approvals)
            now = timezone.now()
            if not approve:
                locked.state, locked.finished_at = State.REJECTED, now
            elif approvals >= locked.required_approvals:
                locked.state, locked.approved_at = State.QUEUED, now
                enqueue_run(locked)
            locked.save(update_fields=["state", "finished_at", "approved_at", "updated_at"])
    if refusal is not None:
        _refuse(event, locked, actor=actor, message=refusal)
    notifications.request_decided(locked, approve=approve, final=locked.state != State.PENDING_APPROVAL)
    return locked


def cancel_rotation(rotation, *, actor, reason):
    """The requester (before any change was made) or an Administrator (also a run needing attention)."""
    reason = _clean_reason(reason)
    with transaction.atomic():
        locked = RotationRequest.objects.select_for_update().select_related("secret__provider").get(pk=rotation.pk)
        is_admin = has_permission(actor, "rotation.change_rotationrequest")
        not_started = (State.PENDING_APPROVAL, State.APPROVED, State.QUEUED)
        before_change = locked.state in not_started and not locked.new_version
        if locked.state == State.NEEDS_ATTENTION and is_admin:
            refusal = None
        elif not before_change:
            refusal = f"This request is {locked.get_state_display().lower()}; it can no longer be cancelled."
        elif not (is_admin or locked.requested_by_id == actor.pk):
            refusal = "Only the requester or an Administrator may cancel this request."
        else:
            refusal = None
        if refusal is None:
            locked.state, locked.finished_at = State.CANCELLED, timezone.now()
            locked.claimed_by, locked.claimed_until = "", None
            locked.save(update_fields=["state", "finished_at", "claimed_by", "claimed_until", "updated_at"])
            Secret.objects.filter(pk=locked.secret_id).update(rotating=False)
            _audit("rotation.cancelled", locked, actor=actor, reason=reason)
    if refusal is not None:
        _refuse("rotation.cancelled", locked, actor=actor, message=refusal)
    return locked


def retry_rotation(rotation, *, actor):
    """Send a run that needs attention (or waits to retry) back to the workers, from the step it stopped at."""
    with transaction.atomic():
        locked = RotationRequest.objects.select_for_update().select_related("secret__provider").get(pk=rotation.pk)
        allowed = has_permission(actor, "rotation.change_rotationrequest") or has_permission(
            actor, "providers.approve_rotation", locked.secret)
        if locked.state not in (State.NEEDS_ATTENTION, State.FAILED_RETRYABLE):
            refusal = f"This request is {locked.get_state_display().lower()}; there is nothing to retry."
        elif not allowed:
            refusal = "You may not retry rotations of this secret."
        else:
            refusal = None
            locked.state = State.FAILED_RETRYABLE
            locked.resume_state = locked.resume_state or State.STAGING
            locked.attempts, locked.next_attempt_at, locked.error = 0, None, ""
            locked.save(update_fields=["state", "resume_state", "attempts", "next_attempt_at", "error", "updated_at"])
            _audit("rotation.retried", locked, actor=actor, resume_at=locked.resume_state)
            enqueue_run(locked)
    if refusal is not None:
        _refuse("rotation.retried", locked, actor=actor, message=refusal)
    return locked


def acknowledge_review(rotation, *, actor, note):
    """An Approver (not the person who ran it) closes an emergency rotation's post-incident review."""
    note = _clean_reason(note, "a note on the review")
    with transaction.atomic():
        locked = RotationRequest.objects.select_for_update().select_related("secret__provider").get(pk=rotation.pk)
        if not locked.awaiting_review:
            refusal = "This rotation has no open review."
        elif locked.requested_by_id == actor.pk:
            refusal = "Someone other than the person who ran the emergency rotation must review it."
        elif not has_permission(actor, "providers.approve_rotation", locked.secret):
            refusal = "Only an approver of this secret may acknowledge the review."
        else:
            refusal = None
            locked.reviewed_by, locked.reviewed_at, locked.review_note = actor, timezone.now(), note
            locked.save(update_fields=["reviewed_by", "reviewed_at", "review_note", "updated_at"])
            _audit("rotation.review_acknowledged", locked, actor=actor, note=note)
    if refusal is not None:
        _refuse("rotation.review_acknowledged", locked, actor=actor, message=refusal)
    return locked


def expire_stale_requests(now=None):
    """Pending requests past their approval window expire (audited one by one); returns how many."""
    now = now or timezone.now()
    expired = 0
    for pk in RotationRequest.objects.filter(state=State.PENDING_APPROVAL, expires_at__lte=now).values_list(
            "pk", flat=True):
        with transaction.atomic():
            # Conditional: an approval landing at the same moment wins or loses cleanly.
            if RotationRequest.objects.filter(pk=pk, state=State.PENDING_APPROVAL).update(
                    state=State.EXPIRED, finished_at=now, updated_at=now):
                rotation = RotationRequest.objects.select_related("secret__provider").get(pk=pk)
                _audit("rotation.expired", rotation, actor="system",
                       approvals=rotation.approvals.filter(decision=Approval.Decision.APPROVED).count(),
                       required_approvals=rotation.required_approvals)
                expired += 1
    return expired
