"""Administrators' changes to rotation policies and where they apply, each audited in the change's transaction."""
from django.db import IntegrityError, transaction

import audit
from rotation.models import PolicyAssignment, RotationPolicy

POLICY_CHANGED = "rotation.policy_changed"


class PolicyRefused(Exception):
    """A policy change that cannot be made; the message is shown to the person as it is."""


def _target_kind(target):
    return (target or {}).get("kind", "none")


def _record(policy, *, actor, action, **details):
    audit.record(POLICY_CHANGED, actor=actor, target=policy, details={"action": action, "policy": policy.name,
                                                                      **details})


def _snapshot(policy, names):
    """Comparable values of the named fields; the target as its kind only (its settings stay out of the log)."""
    values = {name: getattr(policy, name) for name in names if name != "target"}
    if "target" in names:
        values["target_kind"] = _target_kind(policy.target)
    return values


@transaction.atomic
def create_policy(*, actor, approver_groups=(), **fields):
    try:
        with transaction.atomic():
            policy = RotationPolicy.objects.create(**fields)
    except IntegrityError:
        raise PolicyRefused("A policy with this name already exists.") from None
    policy.approver_groups.set(approver_groups)
    _record(policy, actor=actor, action="created", settings=_snapshot(policy, fields),
            approver_groups=sorted(group.name for group in approver_groups))
    return policy


@transaction.atomic
def change_policy(policy, *, actor, approver_groups=(), **fields):
    """Apply `fields`; runs already requested keep the policy they froze, later ones get the new one."""
    locked = RotationPolicy.objects.select_for_update().get(pk=policy.pk)
    before = _snapshot(locked, fields)
    target_before = dict(locked.target or {})
    groups_before = sorted(locked.approver_groups.values_list("name", flat=True))
    for name, value in fields.items():
        setattr(locked, name, value)
    try:
        with transaction.atomic():
            locked.save()
    except IntegrityError:
        raise PolicyRefused("A policy with this name already exists.") from None
    locked.approver_groups.set(approver_groups)
    after = _snapshot(locked, fields)
    changes = {name: [before[name], after[name]] for name in after if before[name] != after[name]}
    groups_after = sorted(group.name for group in approver_groups)
    if groups_after != groups_before:
        changes["approver_groups"] = [groups_before, groups_after]
    if "target" in fields and dict(locked.target or {}) != target_before:
        changes["target_settings"] = "changed"  # which ones, not their values: they name hosts and credential sources
    _record(locked, actor=actor, action="changed", changes=changes)
    return locked


@transaction.atomic
def assign_policy(policy, *, actor, secret=None, provider=None, environment="", tag_key="", tag_value="",
                  priority=100):
    try:
        with transaction.atomic():
            assignment = PolicyAssignment.objects.create(
                policy=policy, secret=secret, provider=provider, environment=environment, tag_key=tag_key,
                tag_value=tag_value, priority=priority)
    except IntegrityError:
        # The unique constraint: a secret has at most one policy of its own.
        raise PolicyRefused(f"{secret} already has a policy of its own; remove that assignment first.") from None
    _record(policy, actor=actor, action="assigned", assignment=assignment.describe(), priority=priority)
    return assignment


@transaction.atomic
def unassign_policy(assignment, *, actor):
    policy, described = assignment.policy, assignment.describe()
    assignment.delete()
    _record(policy, actor=actor, action="unassigned", assignment=described)
