"""Rotation pages: the request list, the approval queue, a run's page (live status) and the actions on a request.

Thin: lookups through rotation.access (an invisible request is a 404), writes through rotation.services. A missing
permission is a 403 before the service is called; anything else the service refuses is shown on the page (400).
"""
from django.contrib import messages
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from providers.models import Secret
from rotation.access import (
    ADMINISTER,
    APPROVE,
    VIEW_SECRET,
    allowed_actions,
    decidable_requests,
    get_request_or_404,
    in_approver_groups,
    may_list_requests,
    visible_requests,
    with_approval_count,
)
from rotation.forms import (
    CancelForm,
    DecisionForm,
    EmergencyRotationForm,
    ReviewForm,
    RotationRequestFilter,
    RotationRequestForm,
)
from rotation.models import Approval, RotationRequest, StepLog
from rotation.policies import effective_policy
from rotation.services import (
    RotationRefused,
    acknowledge_review,
    cancel_rotation,
    decide_rotation,
    request_rotation,
    retry_rotation,
    run_emergency_rotation,
)
from secretsadmin.listing import paginate
from secretsadmin.mfa import is_verified
from secretsadmin.mfa.middleware import step_up, verification_url
from secretsadmin.permissions import (
    get_object_for_user_or_404,
    has_permission,
    holds_permission_anywhere,
    objects_for_user,
    require_permission,
)

LIST_RELATED = ("secret__provider", "requested_by")


@require_safe
def request_list(request):
    if not may_list_requests(request.user):
        raise PermissionDenied("You do not have permission to view this page.")
    # An aggregate drops the model's default ordering: say it again so pages are stable.
    rotations = with_approval_count(visible_requests(request.user).select_related(*LIST_RELATED)).order_by(
        "-created_at", "-pk")
    filterset = RotationRequestFilter(request.GET, queryset=rotations, request=request)
    valid = filterset.is_valid()
    secret = None
    if valid and filterset.form.cleaned_data.get("secret"):
        # Named in the heading: only if the user may see it (an unknown id simply matches nothing).
        secret = objects_for_user(request.user, VIEW_SECRET, Secret.objects.all()).filter(
            uuid=filterset.form.cleaned_data["secret"]).first()
    return render(request, "rotation/request_list.html", {
        "filterset": filterset,
        "filters_valid": valid,
        "page": paginate(request, filterset.qs if valid else rotations.none()),
        "querystring": filterset.querystring(),
        "filtered_secret": secret,
        "can_approve": holds_permission_anywhere(request.user, APPROVE),
    })


@require_safe
def approval_queue(request):
    if not holds_permission_anywhere(request.user, APPROVE):
        raise PermissionDenied("You do not approve rotations of any secret.")
    rotations = with_approval_count(decidable_requests(request.user).select_related(*LIST_RELATED))
    rotations = in_approver_groups(request.user, rotations.order_by("created_at", "pk"))
    return render(request, "rotation/approval_queue.html", {"page": paginate(request, rotations)})


# ---------------------------------------------------------------- a run's page


def _policy_snapshot(rotation):
    """What the run executes, from its frozen copy: generator, grace, target kind (never the target's settings)."""
    frozen = rotation.frozen_policy or {}
    group_ids = frozen.get("approver_groups") or []
    return {
        "name": frozen.get("policy", ""),
        "generator": frozen.get("generator") or {},
        "grace_period_hours": frozen.get("grace_period_hours"),
        "target_kind": (frozen.get("target") or {}).get("kind", "none"),
        "approver_groups": list(Group.objects.filter(pk__in=group_ids).values_list("name", flat=True))
        if group_ids else [],
    }


def _duration(delta):
    if delta is None:
        return ""
    seconds = delta.total_seconds()
    if seconds < 10:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def _status_context(rotation, approvals):
    steps = list(rotation.steps.all())
    if rotation.is_running and rotation.step_started_at:
        # The step in progress has no row until it ends (the worker writes one per step): shown from the run.
        steps.append(StepLog(request=rotation, step=rotation.state, attempt=rotation.attempts,
                             outcome=StepLog.Outcome.STARTED, started_at=rotation.step_started_at))
    for step in steps:
        step.duration_text = _duration(step.duration)
    return {
        "rotation": rotation,
        "approvals": approvals,
        "approval_count": sum(a.decision == Approval.Decision.APPROVED for a in approvals),
        "steps": steps,
        "is_final": rotation.state in RotationRequest.FINAL_STATES,
    }


def _render_detail(request, rotation, *, status=200, failed=None, errors=()):
    """The run page; `failed` is (name, form) of an action that was refused, shown with its errors."""
    approvals = list(rotation.approvals.select_related("approver"))
    forms = {"decision_form": DecisionForm(), "cancel_form": CancelForm(), "review_form": ReviewForm()}
    errors = list(errors)
    if failed:
        name, form = failed
        forms[name] = form
        errors += [error for field_errors in form.errors.values() for error in field_errors]
    return render(request, "rotation/request_detail.html", {
        **_status_context(rotation, approvals),
        **allowed_actions(request.user, rotation, approvals),
        **forms,
        "snapshot": _policy_snapshot(rotation),
        "action_errors": errors,
        "can_view_policy": rotation.policy_id and has_permission(request.user, "rotation.view_rotationpolicy"),
    }, status=status)


@require_safe
def request_detail(request, uuid):
    return _render_detail(request, get_request_or_404(request.user, uuid))


@require_safe
def request_status(request, uuid):
    """The live part of the run page, polled by htmx until the run is final."""
    rotation = get_request_or_404(request.user, uuid)
    approvals = list(rotation.approvals.select_related("approver"))
    return render(request, "rotation/_run_status.html", _status_context(rotation, approvals))


# ---------------------------------------------------------------- actions


def _refused(request, rotation, name, form, exc=None):
    if exc is not None:
        form.add_error(None, str(exc))
    rotation.refresh_from_db()
    return _render_detail(request, rotation, status=400, failed=(name, form))


def _done(request, rotation, message):
    messages.success(request, message)
    return redirect(rotation.get_absolute_url())


def _file(request, uuid, *, perm, form_class, service, emergency):
    """Request or emergency rotation of a secret; a refused one re-renders a small form page (400)."""
    secret = get_object_for_user_or_404(request.user, VIEW_SECRET, Secret.objects.select_related("provider"),
                                        uuid=uuid)
    require_permission(request.user, perm, secret)
    if emergency and not is_verified(request.user):
        # Step-up: an emergency rotation skips approval, so it needs a session confirmed with a second factor.
        return step_up(request, secret.get_absolute_url())
    form = form_class(request.POST)
    if form.is_valid():
        try:
            rotation = service(secret, actor=request.user, reason=form.cleaned_data["reason"])
        except RotationRefused as exc:
            form.add_error(None, str(exc))
        else:
            started = "Emergency rotation started" if emergency else "Rotation requested; approvers have been asked"
            return _done(request, rotation, f"{started} for {secret.name}.")
    return render(request, "rotation/request_form.html", {"form": form, "secret": secret, "emergency": emergency},
                  status=400)


@require_POST
def request_create(request, uuid):
    return _file(request, uuid, perm="providers.request_rotation", form_class=RotationRequestForm,
                 service=request_rotation, emergency=False)


@require_POST
def emergency_create(request, uuid):
    return _file(request, uuid, perm="providers.emergency_rotation", form_class=EmergencyRotationForm,
                 service=run_emergency_rotation, emergency=True)


@require_POST
def request_decide(request, uuid):
    rotation = get_request_or_404(request.user, uuid)
    require_permission(request.user, APPROVE, rotation.secret)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _refused(request, rotation, "decision_form", form)
    approve = form.cleaned_data["decision"] == "approve"
    try:
        rotation = decide_rotation(rotation, actor=request.user, approve=approve, comment=form.cleaned_data["comment"])
    except RotationRefused as exc:
        return _refused(request, rotation, "decision_form", form, exc)
    if not approve:
        return _done(request, rotation, "Rejected; the requester can see your comment.")
    if rotation.state == RotationRequest.State.PENDING_APPROVAL:
        return _done(request, rotation, "Approved; more approvals are needed before it runs.")
    return _done(request, rotation, "Approved; the rotation is queued.")


@require_POST
def request_cancel(request, uuid):
    rotation = get_request_or_404(request.user, uuid)
    own = rotation.requested_by_id is not None and rotation.requested_by_id == request.user.pk
    if not (own or has_permission(request.user, ADMINISTER)):
        raise PermissionDenied("Only the requester or an Administrator may cancel this request.")
    form = CancelForm(request.POST)
    if not form.is_valid():
        return _refused(request, rotation, "cancel_form", form)
    try:
        rotation = cancel_rotation(rotation, actor=request.user, reason=form.cleaned_data["reason"])
    except RotationRefused as exc:
        return _refused(request, rotation, "cancel_form", form, exc)
    return _done(request, rotation, "Cancelled.")


@require_POST
def request_retry(request, uuid):
    rotation = get_request_or_404(request.user, uuid)
    if not (has_permission(request.user, ADMINISTER) or has_permission(request.user, APPROVE, rotation.secret)):
        raise PermissionDenied("You may not retry rotations of this secret.")
    try:
        rotation = retry_rotation(rotation, actor=request.user)
    except RotationRefused as exc:
        rotation.refresh_from_db()
        return _render_detail(request, rotation, status=400, errors=[str(exc)])
    return _done(request, rotation, "Sent back to the workers; it resumes where it stopped.")


@require_POST
def review_acknowledge(request, uuid):
    rotation = get_request_or_404(request.user, uuid)
    require_permission(request.user, APPROVE, rotation.secret)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        return _refused(request, rotation, "review_form", form)
    try:
        rotation = acknowledge_review(rotation, actor=request.user, note=form.cleaned_data["note"])
    except RotationRefused as exc:
        return _refused(request, rotation, "review_form", form, exc)
    return _done(request, rotation, "Review acknowledged.")


# ---------------------------------------------------------------- the panel on a secret's page

HISTORY_LENGTH = 10


def secret_panel(user, secret):
    """Context for templates/rotation/_secret_panel.html; the caller has already shown the user may view `secret`."""
    history = list(secret.rotation_requests.all()[:HISTORY_LENGTH])
    # At most one open rotation per secret (a database constraint), and nothing can be filed after it.
    open_request = next((rotation for rotation in history if rotation.is_open), None)
    can_emergency = has_permission(user, "providers.emergency_rotation", secret)
    return {"rotation_panel": {
        "policy": effective_policy(secret),
        "open_request": open_request,
        "history": history,
        "can_view_policy": has_permission(user, "rotation.view_rotationpolicy"),
        "can_list": may_list_requests(user),
        "can_request": has_permission(user, "providers.request_rotation", secret),
        "can_emergency": can_emergency,
        # The form is offered once the session has passed the second factor; before that, a link to do so.
        "emergency_verify_url": (verification_url(user, secret.get_absolute_url())
                                 if can_emergency and not is_verified(user) else None),
        "request_form": RotationRequestForm(auto_id="id_rotation_%s"),
        "emergency_form": EmergencyRotationForm(auto_id="id_emergency_%s"),
    }}
