"""Top-level URL configuration."""
from functools import wraps

import django_rq.urls
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseBadRequest
from django.urls import URLPattern, include, path
from django_rq.queues import get_queue_by_index
from rq import Worker
from rq.exceptions import InvalidJobOperation, NoSuchJobError

from secretsadmin import health, metrics_view, oidc_views, roles, views

handler400 = "secretsadmin.views.bad_request"
handler403 = "secretsadmin.views.permission_denied"
handler404 = "secretsadmin.views.page_not_found"

admin.site.site_header = "SecretsAdmin administration"
admin.site.site_title = "SecretsAdmin"



def administrators_only(view):
    """django-rq's own check is "is staff"; its queues (job arguments, requeue, delete) are for Administrators.

    Anyone else signed in gets a 403 rather than a detour through the admin login; strangers never get
    here (LoginRequiredMiddleware sends them to the login page first).
    """

    # updated=(): django-rq's views carry user_passes_test's login_url (the admin login), which
    # LoginRequiredMiddleware would otherwise send strangers to instead of our own login page.
    @wraps(view, updated=())
    def wrapped(request, *args, **kwargs):
        user = request.user
        if not (user.is_active and (user.is_superuser or user.groups.filter(name=roles.ADMINISTRATOR).exists())):
            raise PermissionDenied("The job queues are for Administrators.")
        # django-rq's views raise (a 500) for a job or worker that is gone, which a stale page link often is.
        try:
            return view(request, *args, **kwargs)
        except NoSuchJobError as exc:
            raise Http404("No such job: it may have finished and expired, or been deleted.") from exc
        except InvalidJobOperation as exc:
            return HttpResponseBadRequest(f"The job cannot be changed that way: {exc}", content_type="text/plain")

    return wrapped


def _worker_details(view):
    """django-rq asserts that the worker exists: a worker that has stopped is a 404 here."""

    @wraps(view, updated=())
    def checked(request, queue_index, key):
        if not key.startswith(Worker.redis_worker_namespace_prefix) or \
                Worker.find_by_key(key, connection=get_queue_by_index(queue_index).connection) is None:
            raise Http404("No such worker: it may have stopped.")
        return view(request, queue_index, key)

    return checked


def _no_scheduler(request, scheduler_index):
    # rq-scheduler is not installed: periodic jobs are RQ's cron scheduler's (secretsadmin/cron.py).
    raise Http404("Periodic jobs are run by RQ's cron scheduler (see the cron schedulers page), not rq-scheduler.")


_REPLACED = {"worker_details": lambda p: _worker_details(p.callback), "scheduler_jobs": lambda p: _no_scheduler}
rq_urlpatterns = [URLPattern(p.pattern, administrators_only(_REPLACED.get(p.name, lambda p: p.callback)(p)),
                             p.default_args, p.name)
                  for p in django_rq.urls.urlpatterns]

urlpatterns = [
    path("", include(([path("", views.home, name="home")], "dashboard"))),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view.metrics, name="metrics"),
    # The password form and the single sign-on button ([oidc]); sign-out also ends an SSO session at the provider.
    path("accounts/login/", oidc_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", oidc_views.LogoutView.as_view(), name="logout"),
    # The signed-in user's account and the second-factor pages (verify, set up, recovery codes, resets).
    path("account/", include("secretsadmin.mfa.urls")),
    # OpenID Connect redirect and callback: a 404 unless [oidc] enabled = true.
    path("oidc/", include((oidc_views.urlpatterns, "oidc"))),
    path("", include("providers.urls")),
    path("", include("providers.permission_urls")),
    path("rotations/", include("rotation.urls")),
    path("audit/", include("audit.urls")),
    path("compliance/", include("compliance.urls")),
    # Before admin/: the admin site answers every other admin/ path itself.
    path("admin/rq/", include((rq_urlpatterns, "django_rq"))),
    path("admin/", admin.site.urls),
]
