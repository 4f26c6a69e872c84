"""The one permission helper every view uses: list filtering, object lookup (404) and actions (403)."""
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import Http404
from guardian.models import GroupObjectPermission, UserObjectPermission
from guardian.shortcuts import get_objects_for_user


def objects_for_user(user, perm, queryset):
    """The rows of `queryset` the user holds `perm` on, globally (role) or per object (grant)."""
    return get_objects_for_user(user, perm, klass=queryset, accept_global_perms=True, with_superuser=True)


def holds_permission_anywhere(user, perm):
    """True if the user holds `perm` globally (role) or on at least one object (grant)."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.has_perm(perm) or perm in _object_grant_perms(user)


def _object_grant_perms(user):
    """Every "app_label.codename" the user holds on some object, directly or through a group.

    Two queries, cached on the user object for the rest of the request.
    """
    cached = user.__dict__.get("_secretsadmin_object_grant_perms")
    if cached is None:
        fields = ("permission__content_type__app_label", "permission__codename")
        direct = UserObjectPermission.objects.filter(user=user).values_list(*fields).distinct()
        via_groups = GroupObjectPermission.objects.filter(group__user=user).values_list(*fields).distinct()
        cached = {f"{app}.{codename}" for app, codename in (*direct, *via_groups)}
        user.__dict__["_secretsadmin_object_grant_perms"] = cached
    return cached


def visible_objects_or_403(user, perm, queryset):
    """For list views: 403 if the user may see none of this kind at all, else the filtered rows."""
    if not holds_permission_anywhere(user, perm):
        raise PermissionDenied("You do not have permission to view this page.")
    return objects_for_user(user, perm, queryset)


def get_object_for_user_or_404(user, perm, queryset, **lookup):
    """One object the user may see with `perm`; anything else is indistinguishable from missing."""
    try:
        return objects_for_user(user, perm, queryset).get(**lookup)
    except queryset.model.DoesNotExist:
        raise Http404("No such object.") from None


def require_permission(user, perm, obj=None):
    """For actions: 403 unless the user holds `perm` (on `obj`, or globally)."""
    if user.has_perm(perm) or (obj is not None and user.has_perm(perm, obj)):
        return
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
