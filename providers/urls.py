from django.urls import path

from providers import reveal, secret_views, views

app_name = "providers"
urlpatterns = [
    path("providers/", views.provider_list, name="provider_list"),
    path("providers/new/", views.provider_create, name="provider_create"),
    path("providers/<uuid:uuid>/", views.provider_detail, name="provider_detail"),
    path("providers/<uuid:uuid>/edit/", views.provider_edit, name="provider_edit"),
    path("providers/<uuid:uuid>/test/", views.provider_test, name="provider_test"),
    path("providers/<uuid:uuid>/sync/", views.provider_sync, name="provider_sync"),
    path("providers/<uuid:uuid>/sync/status/", views.provider_sync_status, name="provider_sync_status"),
    path("inventory/", views.secret_list, name="secret_list"),
    path("inventory/<uuid:uuid>/", views.secret_detail, name="secret_detail"),
    path("inventory/new/", secret_views.secret_create, name="secret_create"),
    path("inventory/<uuid:uuid>/edit/", secret_views.secret_edit, name="secret_edit"),
    path("inventory/<uuid:uuid>/reveal/", reveal.secret_reveal, name="secret_reveal"),
    path("inventory/<uuid:uuid>/revoke/", secret_views.secret_revoke, name="secret_revoke"),
]
