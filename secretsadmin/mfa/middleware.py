"""Enforces the second factor: the MFA roles reach only the sign-in pages until verified; step-up for the rest."""
from functools import wraps
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from secretsadmin.mfa import has_totp_device, is_verified, mfa_required_for

# What must work before the second factor: signing out, the second-factor pages, and the endpoints machines call
# (health probes; /metrics has its own token). Static files are served before the middleware runs.
ALLOWED_VIEWS = frozenset({"logout", "mfa:verify", "mfa:setup", "healthz", "readyz", "metrics"})
STATIC_PREFIX = "/" + settings.STATIC_URL.lstrip("/")


def verification_url(user, next_url):
    """The verify page, or the set-up page for someone without an authenticator yet; both come back to next_url."""
    name = "mfa:verify" if has_totp_device(user) else "mfa:setup"
    return f"{reverse(name)}?{urlencode({'next': next_url})}"


def step_up(request, next_url):
    """Send a session that must verify first to the verify (or set-up) page, coming back to next_url.

    htmx requests get HX-Redirect (the browser goes there, not the fragment); a form post is answered 303, so
    nothing is done and the page it lands on says why.
    """
    url = verification_url(request.user, next_url)
    if request.headers.get("HX-Request"):
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    if request.method not in ("GET", "HEAD"):
        messages.info(request, "Confirm it is you with your authenticator app first; nothing was done yet.")
        return HttpResponseRedirect(url, status=303)
    return HttpResponseRedirect(url)


def _page_of(request):
    """Where to come back to after verifying: this page, or for a form post the page the form was on."""
    if request.method in ("GET", "HEAD"):
        return request.get_full_path()
    referer = request.headers.get("Referer", "")
    if url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        parts = urlsplit(referer)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return "/"


def verified_session_required(view):
    """For actions every user must confirm with a second factor (reveal, emergency rotation, MFA resets)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not is_verified(request.user):
            return step_up(request, _page_of(request))
        return view(request, *args, **kwargs)

    return wrapped


class MFARequiredMiddleware:
    """After OTPMiddleware and LoginRequiredMiddleware (strangers have been sent to sign in already)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not user.is_authenticated or is_verified(user):
            return None
        match = request.resolver_match
        if (match and match.view_name in ALLOWED_VIEWS) or request.path.startswith(STATIC_PREFIX):
            return None
        if not mfa_required_for(user):
            return None
        return step_up(request, _page_of(request))
