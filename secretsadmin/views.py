"""Dashboard home and the error pages."""
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from secretsadmin import request_size
from secretsadmin.dashboard import home_figures
from secretsadmin.dashboard_charts import home_charts
from secretsadmin.my_work import my_work


@require_safe
def home(request):
    user, now = request.user, timezone.now()
    parts = home_figures(user, now)
    return render(request, "dashboard/home.html", {
        "parts": parts,
        "charts": home_charts(parts),
        "work": my_work(user, now),
        "now": now,
    })


def permission_denied(request, exception=None):
    message = str(exception) if exception and str(exception) else "You do not have permission to view this page."
    return render(request, "errors/403.html", {"message": message}, status=403)


def page_not_found(request, exception=None):
    return render(request, "errors/404.html", status=404)


def bad_request(request, exception=None):
    if request_size.is_too_large(exception):
        return request_size.too_large()
    return render(request, "errors/400.html", status=400)
