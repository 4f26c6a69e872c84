"""Rotation policy pages: every role reads them; Administrators create, change and assign them (audited)."""
from django.contrib import messages
from django.db.models import Count
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from providers.models import Provider, Secret
from rotation.forms import AssignmentForm, RotationPolicyForm
from rotation.models import PolicyAssignment, RotationPolicy
from rotation.policies import policy_id_expression
from rotation.policy_services import PolicyRefused, assign_policy, change_policy, create_policy, unassign_policy
from secretsadmin.listing import paginate
from secretsadmin.permissions import (
    get_object_for_user_or_404,
    has_permission,
    objects_for_user,
    permission_required,
    require_permission,
    visible_objects_or_403,
)

VIEW, ADD, CHANGE = "rotation.view_rotationpolicy", "rotation.add_rotationpolicy", "rotation.change_rotationpolicy"


def _policy_or_404(request, uuid, queryset=None):
    queryset = RotationPolicy.objects.all() if queryset is None else queryset
    return get_object_for_user_or_404(request.user, VIEW, queryset, uuid=uuid)


@require_safe
def policy_list(request):
    policies = visible_objects_or_403(request.user, VIEW,
                                      RotationPolicy.objects.annotate(assignment_count=Count("assignments")).order_by("name"))
    return render(request, "rotation/policy_list.html", {
        "page": paginate(request, policies),
        "can_add": has_permission(request.user, ADD),
    })


@require_safe
def policy_detail(request, uuid):
    policy = _policy_or_404(request, uuid, RotationPolicy.objects.prefetch_related("approver_groups"))
    visible_secrets = objects_for_user(request.user, "providers.view_secret", Secret.objects.all())
    # One query: each secret's governing policy is a CASE over the (few) rules; counted among secrets one may see.
    governed = visible_secrets.annotate(governing_policy=policy_id_expression()).filter(
        governing_policy=policy.pk).count()
    can_change = has_permission(request.user, CHANGE)
    target = dict(policy.target or {})
    return render(request, "rotation/policy_detail.html", {
        "policy": policy,
        "assignments": policy.assignments.select_related("secret__provider", "provider"),
        "governed_count": governed,
        "target_kind": target.pop("kind", "none"),
        # Settings name hosts and where credentials come from: for the people who edit them.
        "target_settings": sorted(target.items()) if can_change else None,
        "can_change": can_change,
    })


@permission_required(ADD)
def policy_create(request):
    form = RotationPolicyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            policy = create_policy(actor=request.user, approver_groups=list(form.cleaned_data["approver_groups"]),
                                   **form.policy_fields())
        except PolicyRefused as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Policy {policy.name} created; assign it to secrets below.")
            return redirect(policy.get_absolute_url())
    return render(request, "rotation/policy_form.html", {"form": form, "creating": True},
                  status=400 if form.is_bound else 200)


def policy_edit(request, uuid):
    policy = _policy_or_404(request, uuid)
    require_permission(request.user, CHANGE)
    form = RotationPolicyForm(request.POST or None, instance=policy)
    if request.method == "POST" and form.is_valid():
        try:
            policy = change_policy(policy, actor=request.user,
                                   approver_groups=list(form.cleaned_data["approver_groups"]), **form.policy_fields())
        except PolicyRefused as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Policy {policy.name} saved. Runs already requested keep the settings "
                                      "they were approved with.")
            return redirect(policy.get_absolute_url())
    policy.refresh_from_db()  # the form wrote its input onto the instance; the page shows what is stored
    return render(request, "rotation/policy_form.html", {"form": form, "policy": policy},
                  status=400 if form.is_bound else 200)


def assignment_create(request, uuid):
    policy = _policy_or_404(request, uuid)
    require_permission(request.user, CHANGE)
    providers = objects_for_user(request.user, "providers.view_provider", Provider.objects.order_by("name"))
    secrets = objects_for_user(request.user, "providers.view_secret", Secret.objects.all())
    form = AssignmentForm(request.POST or None, providers=providers, secrets=secrets)
    if request.method == "POST" and form.is_valid():
        try:
            assignment = assign_policy(policy, actor=request.user, **form.assignment_fields())
        except PolicyRefused as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"{policy.name} now applies to {assignment.describe()}.")
            return redirect(policy.get_absolute_url())
    return render(request, "rotation/assignment_form.html", {"form": form, "policy": policy},
                  status=400 if form.is_bound else 200)


@require_POST
def assignment_delete(request, uuid):
    policy = _policy_or_404(request, uuid)
    require_permission(request.user, CHANGE)
    # Assignments have no UUID of their own: the id is looked up among this policy's assignments only.
    pk = request.POST.get("assignment", "")
    assignment = PolicyAssignment.objects.filter(policy=policy, pk=pk).first() if pk.isdigit() else None
    if assignment is None:
        messages.error(request, "That assignment no longer exists.")
    else:
        described = assignment.describe()
        unassign_policy(assignment, actor=request.user)
        messages.success(request, f"{policy.name} no longer applies to {described}.")
    return redirect(policy.get_absolute_url())
