"""URLs of the account and second-factor pages (namespace "mfa")."""
from django.urls import path

from secretsadmin.mfa import views

app_name = "mfa"
urlpatterns = [
    path("", views.account, name="account"),
    path("two-factor/verify/", views.verify, name="verify"),
    path("two-factor/setup/", views.setup, name="setup"),
    path("two-factor/recovery-codes/", views.recovery_codes, name="recovery_codes"),
    path("two-factor/users/", views.users, name="users"),
    path("two-factor/users/reset/", views.reset, name="reset"),
]
