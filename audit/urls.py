"""Audit log URLs: events are addressed by UUID, never by their sequence or primary key."""
from django.urls import path

from audit import views

app_name = "audit"
urlpatterns = [
    path("", views.event_list, name="event_list"),
    path("export.csv", views.export, {"export_format": "csv"}, name="export_csv"),
    path("export.jsonl", views.export, {"export_format": "jsonl"}, name="export_jsonl"),
    path("verify/", views.verify_now, name="verify_now"),
    path("<uuid:uuid>/", views.event_detail, name="event_detail"),
]
