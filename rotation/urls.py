"""Rotation URLs: objects by UUID (the kwarg is always `uuid`, which the access walks rely on)."""
from django.urls import path

from rotation import policy_views, views

app_name = "rotation"
urlpatterns = [
    path("", views.request_list, name="request_list"),
    path("approvals/", views.approval_queue, name="approval_queue"),
    path("<uuid:uuid>/", views.request_detail, name="request_detail"),
    path("<uuid:uuid>/status/", views.request_status, name="request_status"),
    path("<uuid:uuid>/decide/", views.request_decide, name="request_decide"),
    path("<uuid:uuid>/cancel/", views.request_cancel, name="request_cancel"),
    path("<uuid:uuid>/retry/", views.request_retry, name="request_retry"),
    path("<uuid:uuid>/review/", views.review_acknowledge, name="review_acknowledge"),
    # By the secret's UUID.
    path("secret/<uuid:uuid>/request/", views.request_create, name="request_create"),
    path("secret/<uuid:uuid>/emergency/", views.emergency_create, name="emergency_create"),
    path("policies/", policy_views.policy_list, name="policy_list"),
    path("policies/new/", policy_views.policy_create, name="policy_create"),
    path("policies/<uuid:uuid>/", policy_views.policy_detail, name="policy_detail"),
    path("policies/<uuid:uuid>/edit/", policy_views.policy_edit, name="policy_edit"),
    path("policies/<uuid:uuid>/assignments/new/", policy_views.assignment_create, name="assignment_create"),
    path("policies/<uuid:uuid>/assignments/delete/", policy_views.assignment_delete, name="assignment_delete"),
]
