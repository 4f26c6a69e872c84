"""Navigation for the base layout: only the sections the user may open are shown (views check again)."""
from django.urls import reverse

from rotation.access import pending_decision_count
from secretsadmin.permissions import holds_permission_anywhere
from secretsadmin.roles import role_names_of

# (label, url name, permission needed to open it; None means any signed-in user)
SECTIONS = [
    ("Dashboard", "dashboard:home", None),
    ("Inventory", "providers:secret_list", "providers.view_secret"),
    ("Rotations", "rotation:request_list", "rotation.view_rotationrequest"),
    ("Approvals", "rotation:approval_queue", "providers.approve_rotation"),
    ("Policies", "rotation:policy_list", "rotation.view_rotationpolicy"),
    ("Audit", "audit:event_list", "audit.view_auditevent"),
    ("Compliance", "compliance:report_list", "compliance.view_compliancereport"),
    ("Providers", "providers:provider_list", "providers.view_provider"),
    ("Access review", "access:review", "audit.view_auditevent"),
]


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    items = []
    for label, url_name, perm in SECTIONS:
        if perm is None or holds_permission_anywhere(user, perm):
            url = reverse(url_name)
            item = {"label": label, "url": url, "active": False}
            if url_name == "rotation:approval_queue":
                item["count"] = pending_decision_count(user)
            items.append(item)
    # The most specific section is the current one (/rotations/approvals/ is Approvals, not Rotations).
    matches = [item for item in items if _is_active(request.path, item["url"])]
    if matches:
        max(matches, key=lambda item: len(item["url"]))["active"] = True
    return {
        "nav_items": items,
        "nav_admin_url": reverse("admin:index") if user.is_staff else None,
        "nav_roles": role_names_of(user),
    }


def _is_active(path, url):
    return path == url if url == "/" else path.startswith(url)
