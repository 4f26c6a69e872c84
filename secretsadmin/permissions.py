"""The one permission helper every view uses: list filtering, object lookup (404) and actions (403)."""
import operator
from functools import reduce, wraps

from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase
from guardian.shortcuts import get_objects_for_user

# Grants on a parent object apply to its children (a provider's grants to its secrets). The child's app
# registers the relation: child model -> (foreign key field, {child permission: parent permission}).
_PARENTS = {}


def register_parent(child_model, field, permission_map):
    _PARENTS[child_model] = (field, dict(permission_map))


def _parent_rule(model, perm):
    field, mapping = _PARENTS.get(model, (None, {}))
    return (field, mapping[perm]) if perm in mapping else (None, None)


MATERIALISE_LIMIT = 1000  # grants are few per user: fetch their ids once instead of nesting subqueries


def _granted_ids(queryset):
    """The ids as a list when there are few (PostgreSQL then uses index scans), else the subquery itself."""
    # No ORDER BY: the model's default ordering (a secret's is by provider name) would join and sort the
    # whole table to pick out a handful of ids.
    ids = list(queryset.order_by().values_list("pk", flat=True)[: MATERIALISE_LIMIT + 1])
    return ids if len(ids) <= MATERIALISE_LIMIT else queryset.values("pk")


def objects_for_user(user, perm, queryset):
    """The rows of `queryset` the user holds `perm` on: globally (role), per object, or via the parent."""
    return _objects_for_user(user, perm, queryset)


def _objects_for_user(user, perm, queryset, held=None):
    """objects_for_user; `held` is _object_grant_perms(user) when the caller has just read it, so that grant
    tables the user has no such grant in are not searched (each search reads the whole object table)."""
    if user.is_active and user.has_perm(perm):
        return queryset  # a role's global permission covers every row: no subquery to count through
    field, parent_perm = _parent_rule(queryset.model, perm)
    scopes = []
    if held is None or perm in held:
        direct = get_objects_for_user(user, perm, klass=queryset.model.objects.all(), accept_global_perms=True,
                                      with_superuser=True)
        scopes.append(Q(pk__in=_granted_ids(direct)))
    if field is not None and (held is None or parent_perm in held or user.has_perm(parent_perm)):
        parent_model = queryset.model._meta.get_field(field).related_model
        parents = get_objects_for_user(user, parent_perm, klass=parent_model.objects.all(),
                                       accept_global_perms=True, with_superuser=True)
        scopes.append(Q(**{f"{field}__in": _granted_ids(parents)}))
    return queryset.filter(reduce(operator.or_, scopes)) if scopes else queryset.none()


def holds_permission_anywhere(user, perm):
    """True if the user holds `perm` globally (role) or on at least one object (grant), or on a parent."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.has_perm(perm) or perm in _object_grant_perms(user):
        return True
    parent_perms = [mapping[perm] for _, mapping in _PARENTS.values() if perm in mapping]
    return any(user.has_perm(p) or p in _object_grant_perms(user) for p in parent_perms)


def _object_grant_perms(user):
    """Every "app_label.codename" the user holds on some object, directly or through a group.

    One query per object-permission table (guardian's generic ones and each direct foreign-key one),
    cached on the user object for the rest of the request.
    """
    cached = user.__dict__.get("_secretsadmin_object_grant_perms")
    if cached is None:
        fields = ("permission__content_type__app_label", "permission__codename")
        cached = set()
        for model in _grant_models():
            who = {"user": user} if issubclass(model, UserObjectPermissionBase) else {"group__user": user}
            cached |= {f"{app}.{codename}" for app, codename in
                       model.objects.filter(**who).values_list(*fields).distinct()}
        user.__dict__["_secretsadmin_object_grant_perms"] = cached
    return cached


def _grant_models():
    return [m for m in apps.get_models()
            if issubclass(m, UserObjectPermissionBase | GroupObjectPermissionBase) and not m._meta.abstract]


def visible_objects_or_403(user, perm, queryset):
    """For list views: 403 if the user may see none of this kind at all, else the filtered rows."""
    if not holds_permission_anywhere(user, perm):
        raise PermissionDenied("You do not have permission to view this page.")
    if user.has_perm(perm):
        return queryset
    # holds_permission_anywhere has read (and cached) the kinds of grant the user holds: search only those.
    return _objects_for_user(user, perm, queryset, held=_object_grant_perms(user))


def get_object_for_user_or_404(user, perm, queryset, **lookup):
    """One object the user may see with `perm`; anything else is indistinguishable from missing."""
    try:
        return objects_for_user(user, perm, queryset).get(**lookup)
    except queryset.model.DoesNotExist:
        raise Http404("No such object.") from None


def has_permission(user, perm, obj=None):
    """`perm` globally, on `obj`, or (for registered children) on obj's parent."""
    if user.has_perm(perm) or (obj is not None and user.has_perm(perm, obj)):
        return True
    field, parent_perm = _parent_rule(type(obj), perm) if obj is not None else (None, None)
    if field is None:
        return False
    parent = getattr(obj, field)
    return user.has_perm(parent_perm) or user.has_perm(parent_perm, parent)


def require_permission(user, perm, obj=None):
    """For actions: 403 unless the user holds `perm` (on `obj`, its parent, or globally)."""
    if not has_permission(user, perm, obj):
        raise PermissionDenied("You do not have permission to do that.")


def permission_required(perm):
    """Decorator for views that need a global (role) permission, answering 403 otherwise."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            require_permission(request.user, perm)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
