"""Account services: every role or permission change goes through here and is audited in its transaction."""
from django.contrib.auth.models import Group
from django.db import transaction

import audit


def _user_target(user):
    return ("auth.user", user.pk, user.get_username())


@transaction.atomic
def grant_role(user, role, *, actor):
    group = Group.objects.get(name=role)
    if user.groups.filter(pk=group.pk).exists():
        return False
    user.groups.add(group)
    audit.record("permission.granted", actor=actor, target=_user_target(user), details={"group": role})
    return True


@transaction.atomic
def revoke_role(user, role, *, actor):
    group = Group.objects.get(name=role)
    if not user.groups.filter(pk=group.pk).exists():
        return False
    user.groups.remove(group)
    audit.record("permission.revoked", actor=actor, target=_user_target(user), details={"group": role})
    return True


def record_membership_change(user, before, after, *, actor):
    """Audit a group change made elsewhere (Django's admin form), inside the caller's transaction."""
    for name in sorted(after - before):
        audit.record("permission.granted", actor=actor, target=_user_target(user), details={"group": name})
    for name in sorted(before - after):
        audit.record("permission.revoked", actor=actor, target=_user_target(user), details={"group": name})


def record_permission_change(target, before, after, *, actor):
    """Audit direct permission changes of a user or group (codenames "app.codename")."""
    for name in sorted(after - before):
        audit.record("permission.granted", actor=actor, target=target, details={"permission": name})
    for name in sorted(before - after):
        audit.record("permission.revoked", actor=actor, target=target, details={"permission": name})
