"""URLs of the permissions tabs and the access review (included from secretsadmin/urls.py)."""
from django.urls import path

from providers import permission_views

app_name = "access"
urlpatterns = [
    path("providers/<uuid:uuid>/permissions/", permission_views.object_permissions, {"kind": "provider"},
         name="provider_permissions"),
    path("inventory/<uuid:uuid>/permissions/", permission_views.object_permissions, {"kind": "secret"},
         name="secret_permissions"),
    path("access-review/", permission_views.access_review, name="review"),
]
