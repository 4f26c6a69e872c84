"""Object permissions on providers and secrets: audited grants and revokes, and the access review matrix."""
import heapq
from collections import defaultdict, namedtuple
from itertools import islice

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Q
from guardian.shortcuts import assign_perm, remove_perm

import audit
from providers.access_review import AccessReview
from providers.models import (
    PROVIDER_GRANTS,
    Provider,
    ProviderGroupObjectPermission,
    ProviderUserObjectPermission,
    Secret,
    SecretGroupObjectPermission,
    SecretUserObjectPermission,
)

# What can be granted on one object, as (label, codename), in the order the pages show them.
OBJECT_ACTIONS = {
    "provider": (
        ("View", "view_provider"),
        ("Reveal values", "reveal_provider_secrets"),
        ("Request rotation", "request_provider_rotation"),
        ("Approve rotation", "approve_provider_rotation"),
        ("Emergency rotation", "emergency_provider_rotation"),
        ("Change secret metadata", "change_provider_secrets"),
        ("Manage permissions", "manage_provider_permissions"),
    ),
    "secret": (
        ("View", "view_secret"),
        ("Reveal value", "reveal_secret"),
        ("Request rotation", "request_rotation"),
        ("Approve rotation", "approve_rotation"),
        ("Emergency rotation", "emergency_rotation"),
        ("Change metadata", "change_secret"),
        ("Manage permissions", "manage_permissions"),
    ),
}
# kind -> (model, user grant table, group grant table)
_KINDS = {
    "provider": (Provider, ProviderUserObjectPermission, ProviderGroupObjectPermission),
    "secret": (Secret, SecretUserObjectPermission, SecretGroupObjectPermission),
}
SECRET_ACTIONS = tuple(codename for _, codename in OBJECT_ACTIONS["secret"])
ACTION_LABELS = {kind: {codename: label for label, codename in actions} for kind, actions in OBJECT_ACTIONS.items()}
# A provider codename -> the secret codename it grants on every secret of that provider.
_SECRET_ACTION_OF = {provider.split(".", 1)[1]: secret.split(".", 1)[1] for secret, provider in PROVIDER_GRANTS.items()}


def kind_of(obj):
    for kind, (model, _, _) in _KINDS.items():
        if isinstance(obj, model):
            return kind
    raise TypeError(f"object permissions are not managed for {type(obj).__name__}")


def _ordered(kind, codenames):
    return [codename for _, codename in OBJECT_ACTIONS[kind] if codename in codenames]


def _checked_codename(kind, codename):
    codename = codename.removeprefix("providers.")
    if codename not in ACTION_LABELS[kind]:
        raise ValueError(f"{codename!r} cannot be granted on a {kind}")
    return codename


def grantee_label(grantee):
    if isinstance(grantee, Group):
        return f"group:{grantee.name}"
    return f"user:{grantee.get_username()}"


def _held(kind, obj, grantee):
    _, user_table, group_table = _KINDS[kind]
    if isinstance(grantee, Group):
        grants = group_table.objects.filter(group=grantee, content_object=obj)
    else:
        grants = user_table.objects.filter(user=grantee, content_object=obj)
    return _ordered(kind, set(grants.values_list("permission__codename", flat=True)))


def _change_object_permission(obj, grantee, codename, *, actor, granting):
    kind = kind_of(obj)
    codename = _checked_codename(kind, codename)
    # Lock the object so that concurrent changes to its grants queue up and each before/after is exact.
    list(type(obj).objects.select_for_update().filter(pk=obj.pk).values_list("pk", flat=True))
    before = _held(kind, obj, grantee)
    if (codename in before) == granting:
        return False
    (assign_perm if granting else remove_perm)(codename, grantee, obj)
    after = _held(kind, obj, grantee)
    secret_fields = {"provider": obj.provider.name, "secret_name": obj.name} if kind == "secret" else {
        "provider": obj.name}
    audit.record("permission.granted" if granting else "permission.revoked", actor=actor, target=obj,
                 **secret_fields, details={"permission": f"providers.{codename}", "grantee": grantee_label(grantee),
                                           "before": before, "after": after})
    return True


@transaction.atomic
def grant_object_permission(obj, grantee, codename, *, actor):
    """Grant `codename` on a provider or secret to a user or group. False if it was already held."""
    return _change_object_permission(obj, grantee, codename, actor=actor, granting=True)


@transaction.atomic
def revoke_object_permission(obj, grantee, codename, *, actor):
    """Revoke `codename` on a provider or secret from a user or group. False if it was not held."""
    return _change_object_permission(obj, grantee, codename, actor=actor, granting=False)


def grants_on(obj):
    """[(user or group, [codenames])] for the object's own grants: users by name, then groups by name."""
    kind = kind_of(obj)
    _, user_table, group_table = _KINDS[kind]
    by_grantee = defaultdict(set)
    for grant in user_table.objects.filter(content_object=obj).select_related("user", "permission"):
        by_grantee[grant.user].add(grant.permission.codename)
    users = sorted(by_grantee.items(), key=lambda item: item[0].get_username())
    by_group = defaultdict(set)
    for grant in group_table.objects.filter(content_object=obj).select_related("group", "permission"):
        by_group[grant.group].add(grant.permission.codename)
    groups = sorted(by_group.items(), key=lambda item: item[0].name)
    return [(grantee, _ordered(kind, codenames)) for grantee, codenames in users + groups]


@transaction.atomic
def record_access_review(*, actor, note, scope, rows_reviewed):
    review = AccessReview.objects.create(reviewed_by=actor, note=note, scope=scope, rows_reviewed=rows_reviewed)
    audit.record("report.generated", actor=actor, target=review, details={
        "report": "access_review", "review": str(review.uuid), "scope": scope, "rows_reviewed": rows_reviewed,
        "note": note})
    return review


# --- The access review matrix -------------------------------------------------------------------------------

AccessRow = namedtuple("AccessRow", "secret user actions via")

_PROVIDER_CODENAMES = tuple(_SECRET_ACTION_OF)
# Paths in the order a reviewer reads them: the broadest first.
_VIA_RANK = {"superuser": 0, "role": 1, "global": 2, "group-provider": 3, "group-secret": 4, "direct-provider": 5,
             "direct-secret": 6}


def _secret_actions_from(codenames):
    """The secret actions a set of provider or secret codenames amounts to (a provider grant covers its secrets)."""
    implied = {_SECRET_ACTION_OF.get(codename, codename) for codename in codenames}
    return [codename for codename in SECRET_ACTIONS if codename in implied]


class AccessMatrix:
    """Who can do what on each secret of `secret_queryset`, and through which grant.

    Iterating yields AccessRow(secret, user, [secret codenames], via), one per (secret, active user, path),
    secrets in queryset order. Every grant is loaded up front in a fixed number of queries (whatever the
    number of secrets or users); the secrets themselves are streamed, so memory follows the number of
    grants, not the size of the inventory. Iterate as often as needed: grants are loaded once.
    `count()` and slicing make it usable with Django's Paginator.
    """

    def __init__(self, secret_queryset, *, username=None, action=None):
        self.secrets = secret_queryset
        self.username = username or None
        self.action = action or None
        self._loaded = False
        self._count = None

    def __iter__(self):
        self._load()
        for secret in self.secrets.select_related("provider").iterator(chunk_size=1000):
            rows = heapq.merge(self._global_rows, self._provider_rows.get(secret.provider_id, ()),
                               self._secret_rows.get(secret.pk, ()), key=lambda row: row[0])
            for _, user, actions, via in rows:
                yield AccessRow(secret, user, actions, via)

    def count(self):
        if self._count is None:
            self._count = sum(1 for _ in self)
        return self._count

    def __len__(self):
        return self.count()

    def __getitem__(self, index):
        if not isinstance(index, slice):
            raise TypeError("an access matrix can only be sliced")
        return list(islice(self, index.start, index.stop))

    def _load(self):
        if self._loaded:
            return
        user_model = get_user_model()
        users = user_model.objects.filter(is_active=True)
        if self.username:
            users = users.filter(**{user_model.USERNAME_FIELD: self.username})
        relevant = Q(permission__content_type__app_label="providers",
                     permission__codename__in=SECRET_ACTIONS + _PROVIDER_CODENAMES)
        provider_ids = self.secrets.values("provider_id")
        secret_ids = self.secrets.values("pk")

        # Global (role) permissions: the same on every secret.
        group_global = defaultdict(set)
        group_names = {}
        for group_id, name, codename in Group.permissions.through.objects.filter(relevant).values_list(
                "group_id", "group__name", "permission__codename"):
            group_global[group_id].add(codename)
            group_names[group_id] = name
        user_global = defaultdict(set)
        for user_id, codename in user_model.user_permissions.through.objects.filter(
                relevant, user__in=users).values_list("user_id", "permission__codename"):
            user_global[user_id].add(codename)

        # Object grants on these secrets and their providers: (object id, user or group id) -> codenames.
        def user_grants(table, objects):
            found = defaultdict(set)
            for object_id, user_id, codename in table.objects.filter(
                    relevant, content_object__in=objects, user__in=users).values_list(
                    "content_object_id", "user_id", "permission__codename"):
                found[object_id, user_id].add(codename)
            return found

        def group_grants(table, objects):
            found = defaultdict(set)
            for object_id, group_id, name, codename in table.objects.filter(
                    relevant, content_object__in=objects).values_list(
                    "content_object_id", "group_id", "group__name", "permission__codename"):
                found[object_id, group_id].add(codename)
                group_names[group_id] = name
            return found

        provider_user = user_grants(ProviderUserObjectPermission, provider_ids)
        provider_group = group_grants(ProviderGroupObjectPermission, provider_ids)
        secret_user = user_grants(SecretUserObjectPermission, secret_ids)
        secret_group = group_grants(SecretGroupObjectPermission, secret_ids)

        members = defaultdict(list)
        for group_id, user_id in user_model.groups.through.objects.filter(
                group_id__in=list(group_names), user__in=users).values_list("group_id", "user_id"):
            members[group_id].append(user_id)
        wanted = set(user_global) | {uid for ids in members.values() for uid in ids}
        wanted |= {uid for _, uid in provider_user} | {uid for _, uid in secret_user}
        wanted |= set(users.filter(is_superuser=True).values_list("pk", flat=True))
        # in_bulk splits a long id list into batches the database accepts.
        people = users.in_bulk(wanted)

        global_rows = [self._row(person, SECRET_ACTIONS, "superuser", "superuser")
                       for person in people.values() if person.is_superuser]
        for group_id, codenames in group_global.items():
            for user_id in members.get(group_id, ()):
                global_rows.append(self._row(people.get(user_id), _secret_actions_from(codenames), "role",
                                             f"role:{group_names[group_id]}"))
        for user_id, codenames in user_global.items():
            global_rows.append(self._row(people.get(user_id), _secret_actions_from(codenames), "global",
                                         "global permission"))

        def object_rows(by_user, by_group, on):
            rows = defaultdict(list)
            for (object_id, user_id), codenames in by_user.items():
                rows[object_id].append(self._row(people.get(user_id), _secret_actions_from(codenames),
                                                 f"direct-{on}", f"direct on {on}"))
            for (object_id, group_id), codenames in by_group.items():
                for user_id in members.get(group_id, ()):
                    rows[object_id].append(self._row(people.get(user_id), _secret_actions_from(codenames),
                                                     f"group-{on}", f"group:{group_names[group_id]} on {on}"))
            return {object_id: sorted(filter(None, found)) for object_id, found in rows.items()}

        self._global_rows = sorted(filter(None, global_rows))
        self._provider_rows = object_rows(provider_user, provider_group, "provider")
        self._secret_rows = object_rows(secret_user, secret_group, "secret")
        self._loaded = True

    def _row(self, user, actions, path, via):
        """A sortable row (key, user, actions, via), or None when the action filter leaves nothing of it."""
        # No user: deactivated between two of the queries above.
        if user is None or not actions or (self.action and self.action not in actions):
            return None
        return ((user.get_username(), user.pk, _VIA_RANK[path], via), user, list(actions), via)


def access_matrix(secret_queryset, *, username=None, action=None):
    """Stream AccessRow(secret, user, actions, via) for every active user who can act on each secret."""
    yield from AccessMatrix(secret_queryset, username=username, action=action)
