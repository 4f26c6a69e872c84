"""Top-level URL configuration."""
from functools import wraps

import django_rq.urls
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied
from django.urls import URLPattern, include, path

from secretsadmin import health, metrics_view, roles, views

handler400 = "secretsadmin.views.bad_request"
handler403 = "secretsadmin.views.permission_denied"
handler404 = "secretsadmin.views.page_not_found"

admin.site.site_header = "SecretsAdmin administration"
admin.site.site_title = "SecretsAdmin"



def administrators_only(view):
    """django-rq's own check is "is staff"; its queues (job arguments, requeue, delete) are for Administrators.

    Anyone else signed in gets a 403 rather than a detour through the admin login; strangers never get
    here (LoginRequiredMiddleware sends them to the login page first).
    """

    # updated=(): django-rq's views carry user_passes_test's login_url (the admin login), which
    # LoginRequiredMiddleware would otherwise send strangers to instead of our own login page.
    @wraps(view, updated=())
    def wrapped(request, *args, **kwargs):
        user = request.user
        if not (user.is_active and (user.is_superuser or user.groups.filter(name=roles.ADMINISTRATOR).exists())):
            raise PermissionDenied("The job queues are for Administrators.")
        return view(request, *args, **kwargs)

    return wrapped


rq_urlpatterns = [URLPattern(p.pattern, administrators_only(p.callback), p.default_args, p.name)
                  for p in django_rq.urls.urlpatterns]

urlpatterns = [
    path("", include(([path("", views.home, name="home")], "dashboard"))),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view.metrics, name="metrics"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("providers.urls")),
    path("", include("providers.permission_urls")),
    path("rotations/", include("rotation.urls")),
    path("audit/", include("audit.urls")),
    path("compliance/", include("compliance.urls")),
    # Before admin/: the admin site answers every other admin/ path itself.
    path("admin/rq/", include((rq_urlpatterns, "django_rq"))),
    path("admin/", admin.site.urls),
]
