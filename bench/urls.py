"""The project's URLs plus /__bench__/bare, the baseline a page's latency is compared with."""
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.urls import include, path


@login_not_required
def bare(request):
    return HttpResponse("ok")


urlpatterns = [
    path("__bench__/bare", bare),
    path("", include("secretsadmin.urls")),
]
