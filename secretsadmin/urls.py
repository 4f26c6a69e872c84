"""Top-level URL configuration."""
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from secretsadmin import health, views

handler400 = "secretsadmin.views.bad_request"
handler403 = "secretsadmin.views.permission_denied"
handler404 = "secretsadmin.views.page_not_found"

admin.site.site_header = "SecretsAdmin administration"
admin.site.site_title = "SecretsAdmin"

urlpatterns = [
    path("", include(([path("", views.home, name="home")], "dashboard"))),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("providers.urls")),
    path("", include("providers.permission_urls")),
    path("rotations/", include("rotation.urls")),
    path("audit/", include("audit.urls")),
    path("compliance/", include("compliance.urls")),
    path("admin/", admin.site.urls),
]
