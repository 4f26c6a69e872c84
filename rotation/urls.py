from django.urls import path

from rotation import views

app_name = "rotation"
urlpatterns = [path("", views.request_list, name="request_list")]
