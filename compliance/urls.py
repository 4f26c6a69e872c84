from django.urls import path

from compliance import snapshot_views, views

app_name = "compliance"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("", views.overview, name="report_list"),  # the navigation's name for the Compliance section
    path("crosswalk/", views.crosswalk_page, name="crosswalk"),
]
# Report snapshots (generation, progress, downloads).
urlpatterns += [
    path("snapshots/", snapshot_views.snapshot_list, name="snapshot_list"),
    path("snapshots/new/", snapshot_views.snapshot_create, name="snapshot_create"),
    path("snapshots/<uuid:uuid>/", snapshot_views.snapshot_detail, name="snapshot_detail"),
    path("snapshots/<uuid:uuid>/status/", snapshot_views.snapshot_status, name="snapshot_status"),
    path("snapshots/<uuid:uuid>/download/", snapshot_views.snapshot_download, name="snapshot_download"),
]
# Live evidence per framework and control (after snapshots/ and crosswalk/, which a framework slug would shadow).
urlpatterns += [
    path("<slug:framework>/", views.framework_report, name="framework"),
    path("<slug:framework>/controls/<str:control_id>/", views.control_detail, name="control_detail"),
]
