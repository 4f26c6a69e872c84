"""Django's admin for users and groups, with every grant and revocation audited."""
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User

from secretsadmin.mfa import admin as mfa_admin  # noqa: F401 - second-factor devices, without their keys
from secretsadmin.services import record_membership_change, record_permission_change


def _perm_names(permissions):
    return {f"{p.content_type.app_label}.{p.codename}" for p in permissions.select_related("content_type")}


class AuditedUserAdmin(UserAdmin):
    def save_related(self, request, form, formsets, change):
        user = form.instance
        groups_before = set(user.groups.values_list("name", flat=True)) if change else set()
        perms_before = _perm_names(user.user_permissions) if change else set()
        super().save_related(request, form, formsets, change)
        record_membership_change(user, groups_before, set(user.groups.values_list("name", flat=True)),
                                 actor=request.user)
        record_permission_change(("auth.user", user.pk, user.get_username()), perms_before,
                                 _perm_names(user.user_permissions), actor=request.user)


class AuditedGroupAdmin(GroupAdmin):
    def save_related(self, request, form, formsets, change):
        group = form.instance
        before = _perm_names(group.permissions) if change else set()
        super().save_related(request, form, formsets, change)
        record_permission_change(("auth.group", group.pk, group.name), before, _perm_names(group.permissions),
                                 actor=request.user)


admin.site.unregister(User)
admin.site.unregister(Group)
admin.site.register(User, AuditedUserAdmin)
admin.site.register(Group, AuditedGroupAdmin)
