"""Dashboard home and the error pages."""
from django.shortcuts import render

from audit.services import latest_verification
from providers.models import Provider, Secret
from rotation.models import RotationRequest
from secretsadmin.permissions import holds_permission_anywhere, objects_for_user
from secretsadmin.roles import role_names_of


def _count_visible(user, perm, queryset):
    # Figures respect object permissions: a user sees counts of what they may see, nothing more.
    if not holds_permission_anywhere(user, perm):
        return None
    return objects_for_user(user, perm, queryset).count()


def home(request):
    user = request.user
    figures = [
        ("Providers", _count_visible(user, "providers.view_provider", Provider.objects.all()),
         "providers:provider_list"),
        ("Secrets", _count_visible(user, "providers.view_secret", Secret.objects.all()), "providers:secret_list"),
        ("Changed out of band", _count_visible(user, "providers.view_secret",
                                               Secret.objects.filter(changed_out_of_band_at__isnull=False)),
         "providers:secret_list", "out_of_band=true"),
        ("Missing in provider", _count_visible(user, "providers.view_secret",
                                               Secret.objects.filter(status=Secret.Status.MISSING)),
         "providers:secret_list", "status=missing"),
        (
            "Rotations pending approval",
            _count_visible(
                user,
                "rotation.view_rotationrequest",
                RotationRequest.objects.filter(state=RotationRequest.State.PENDING_APPROVAL),
            ),
            "rotation:request_list",
        ),
    ]
    context = {
        "roles": role_names_of(user),
        "figures": [(label, value, url, (query[0] if query else ""))
                    for label, value, url, *query in figures if value is not None],
        "verification": latest_verification() if user.has_perm("audit.view_auditevent") else None,
        "show_chain": user.has_perm("audit.view_auditevent"),
    }
    return render(request, "dashboard/home.html", context)


def permission_denied(request, exception=None):
    message = str(exception) if exception and str(exception) else "You do not have permission to view this page."
    return render(request, "errors/403.html", {"message": message}, status=403)


def page_not_found(request, exception=None):
    return render(request, "errors/404.html", status=404)


def bad_request(request, exception=None):
    return render(request, "errors/400.html", status=400)
