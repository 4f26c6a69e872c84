"""Who may see which rotation requests, which ones a user may decide, and what a user may do on one.

Views use these to show and hide buttons; the services check again when the button is pressed.
"""
from django.db.models import Count, Exists, OuterRef, Q
from django.http import Http404
from django.utils import timezone

from providers.models import Secret
from rotation.models import Approval, RotationRequest
from secretsadmin.permissions import has_permission, holds_permission_anywhere, objects_for_user

State = RotationRequest.State
VIEW_SECRET = "providers.view_secret"  # noqa: S105  (a permission name)
VIEW_REQUESTS = "rotation.view_rotationrequest"
APPROVE = "providers.approve_rotation"
ADMINISTER = "rotation.change_rotationrequest"
NOT_STARTED = (State.PENDING_APPROVAL, State.APPROVED, State.QUEUED)


def _secret_scope(user, perm):
    """None when the user holds `perm` on every secret (no filter needed), else the pks of the secrets they do."""
    if user.is_active and user.has_perm(perm):
        return None
    return objects_for_user(user, perm, Secret.objects.all()).values("pk")


def visible_requests(user, queryset=None):
    """A request is visible exactly when its secret is: an invisible one is a 404, like the secret."""
    queryset = RotationRequest.objects.all() if queryset is None else queryset
    scope = _secret_scope(user, VIEW_SECRET)
    return queryset if scope is None else queryset.filter(secret__in=scope)


def get_request_or_404(user, uuid):
    queryset = RotationRequest.objects.select_related("secret__provider", "requested_by", "policy", "reviewed_by")
    try:
        return visible_requests(user, queryset).get(uuid=uuid)
    except RotationRequest.DoesNotExist:
        raise Http404("No such rotation request.") from None


def with_approval_count(queryset):
    approved = Q(approvals__decision=Approval.Decision.APPROVED)
    return queryset.annotate(approval_count=Count("approvals", filter=approved))


def decidable_requests(user):
    """Pending, unexpired requests of visible secrets the user approves, filed by someone else, not yet decided
    by them. The policy's approver groups are a JSON list in the frozen policy: in_approver_groups() applies them.
    """
    if not holds_permission_anywhere(user, APPROVE):
        return RotationRequest.objects.none()
    queryset = visible_requests(user).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()), state=State.PENDING_APPROVAL,
    ).exclude(requested_by=user).exclude(Exists(Approval.objects.filter(request=OuterRef("pk"), approver=user)))
    scope = _secret_scope(user, APPROVE)
    return queryset if scope is None else queryset.filter(secret__in=scope)


def reviews_owed(user):
    """Emergency rotations whose post-incident review the user may acknowledge: visible secrets they approve,
    run by someone else (acknowledge_review decides in the end)."""
    if not holds_permission_anywhere(user, APPROVE):
        return RotationRequest.objects.none()
    queryset = visible_requests(user).filter(review_required=True, reviewed_at__isnull=True).exclude(
        requested_by=user)
    scope = _secret_scope(user, APPROVE)
    return queryset if scope is None else queryset.filter(secret__in=scope)


def in_approver_groups(user, rotations):
    """The rotations whose frozen policy names no approver groups, or one the user belongs to."""
    group_ids = None
    kept = []
    for rotation in rotations:
        groups = set((rotation.frozen_policy or {}).get("approver_groups") or ())
        if groups:
            if group_ids is None:  # one query, and only when some policy restricts its approvers
                group_ids = set(user.groups.values_list("pk", flat=True))
            if not groups & group_ids:
                continue
        kept.append(rotation)
    return kept


def pending_decision_count(user):
    """For the navigation badge: one query for the candidates (plus one for groups when a policy names some)."""
    candidates = decidable_requests(user).order_by().only("pk", "frozen_policy")
    return len(in_approver_groups(user, candidates))


def allowed_actions(user, rotation, approvals):
    """Which action buttons the run page shows (mirrors the services' rules; they decide in the end)."""
    is_admin = has_permission(user, ADMINISTER)
    approver = has_permission(user, APPROVE, rotation.secret)
    own = rotation.requested_by_id is not None and rotation.requested_by_id == user.pk
    decided = any(approval.approver_id == user.pk for approval in approvals)
    in_time = rotation.expires_at is None or rotation.expires_at > timezone.now()
    may_decide = (rotation.state == State.PENDING_APPROVAL and in_time and approver and not own and not decided
                  and bool(in_approver_groups(user, [rotation])))
    not_started = rotation.state in NOT_STARTED and not rotation.new_version
    return {
        "can_decide": may_decide,
        "can_cancel": (not_started and (own or is_admin)) or (rotation.state == State.NEEDS_ATTENTION and is_admin),
        "can_retry": rotation.state in (State.NEEDS_ATTENTION, State.FAILED_RETRYABLE) and (is_admin or approver),
        "can_acknowledge": rotation.awaiting_review and approver and not own,
    }


def may_list_requests(user):
    return holds_permission_anywhere(user, VIEW_REQUESTS)
