"""The five roles, as groups holding global model permissions. This table is the documentation."""
from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions

VIEWER = "Viewer"
OPERATOR = "Operator"
APPROVER = "Approver"
AUDITOR = "Auditor"
ADMINISTRATOR = "Administrator"

_BROWSE = [
    "providers.view_provider",
    "providers.view_secret",
    "rotation.view_rotationpolicy",
    "rotation.view_rotationrequest",
    "rotation.view_approval",
]

# Global grants per role. Object-level grants (django-guardian) narrow or widen this per secret.
# Nobody gets reveal or emergency rotation through a role: those are granted per object.
ROLE_PERMISSIONS = {
    # Browse the inventory, providers and rotation history.
    VIEWER: _BROWSE,
    # ... and request rotations.
    OPERATOR: _BROWSE + ["providers.request_rotation", "rotation.add_rotationrequest"],
    # ... and approve or reject other people's rotation requests.
    APPROVER: _BROWSE + ["providers.approve_rotation", "rotation.add_approval"],
    # Read-only: the audit log, compliance reports and their exports.
    AUDITOR: _BROWSE
    + [
        "audit.view_auditevent",
        "audit.export_auditevent",
        "audit.verify_auditevent",
        "compliance.view_compliancereport",
        "compliance.add_compliancereport",
        "compliance.export_compliancereport",
    ],
    # Providers, policies, permissions and users; sees the audit log but approves nothing.
    ADMINISTRATOR: _BROWSE
    + [
        "providers.add_provider",
        "providers.change_provider",
        "providers.delete_provider",
        "providers.test_provider",
        "providers.sync_provider",
        "providers.add_secret",
        "providers.delete_secret",
        "providers.change_secret",
        "providers.manage_permissions",
        "providers.manage_provider_permissions",
        "rotation.add_rotationpolicy",
        "rotation.change_rotationpolicy",
        "rotation.delete_rotationpolicy",
        "rotation.change_rotationrequest",
        "audit.view_auditevent",
        "audit.verify_auditevent",
        "compliance.view_compliancereport",
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
        "auth.view_group",
        "auth.change_group",
    ],
}
ROLE_NAMES = tuple(ROLE_PERMISSIONS)


def sync_roles(*, using="default"):
    """Create the role groups and set each one's permissions to exactly the table above."""
    from django.contrib.auth.models import Group, Permission

    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    for role, dotted_names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.using(using).get_or_create(name=role)
        permissions = []
        for dotted in dotted_names:
            app_label, codename = dotted.split(".", 1)
            permissions.append(
                Permission.objects.using(using).get(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(permissions)


def sync_roles_after_migrate(sender, *, using="default", **kwargs):
    # Once per migrate, after the last app has had its permissions created.
    if sender.label == list(global_apps.get_app_configs())[-1].label:
        sync_roles(using=using)


def role_names_of(user):
    if not user.is_authenticated:
        return []
    return sorted(g.name for g in user.groups.all() if g.name in ROLE_NAMES)
