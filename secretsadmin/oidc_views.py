"""Sign-in and sign-out pages with single sign-on: the password form, the OpenID Connect redirect and callback."""
import logging
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import SuspiciousOperation
from django.core.validators import MaxLengthValidator
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

import audit
from secretsadmin.config_oidc import BACKEND_PATH
from secretsadmin.login_security import LOGIN_FAILURES
from secretsadmin.oidc import OAUTH_ERROR, SingleSignOnError

log = logging.getLogger(__name__)

BREAK_GLASS = "break_glass"
LOCAL_SIGN_IN_OFF = (
    "Password sign-in is turned off here: use “Sign in with single sign-on”. "
    "Only superusers' break-glass accounts may sign in with a password.")


class SignInForm(AuthenticationForm):
    """Django's sign-in form with its username length enforced.

    AuthenticationForm sets the field's max_length after the field made its validators, so a longer name reached
    authenticate() and django-axes, whose varchar(255) refused it on PostgreSQL (a 500). Now it is a field error.
    """

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        username = self.fields["username"]
        username.validators.append(MaxLengthValidator(username.max_length))


class LoginView(auth_views.LoginView):
    """Django's sign-in page, with the single sign-on button, and password sign-in off when configured."""

    authentication_form = SignInForm
    redirect_authenticated_user = True

    def break_glass(self):
        return not settings.LOCAL_LOGIN_ENABLED and BREAK_GLASS in (self.request.GET if self.request.method == "GET"
                                                                    else self.request.POST)

    def post(self, request, *args, **kwargs):
        if not settings.LOCAL_LOGIN_ENABLED and not self.break_glass():
            # The credentials are not even checked: nothing to learn from this answer, nothing for the lockout.
            return self.render_to_response(self.get_context_data(password_refused=LOCAL_SIGN_IN_OFF), status=403)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        user = form.get_user()
        if not settings.LOCAL_LOGIN_ENABLED and not user.is_superuser:
            # Break-glass is for superusers. Anyone else gets the usual "wrong username or password", so the page
            # says nothing about which passwords are right, and it counts as a failed sign-in (audit, lockout).
            user_login_failed.send(sender=__name__, credentials={"username": user.get_username()},
                                   request=self.request)
            form.add_error(None, form.get_invalid_login_error())
            return self.form_invalid(form)
        return super().form_valid(form)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        next_url = context.get("next") or ""
        context.update(
            sso_enabled=settings.OIDC_ENABLED,
            sso_url=reverse("oidc:authenticate") + (f"?{urlencode({'next': next_url})}" if next_url else "")
            if settings.OIDC_ENABLED else "",
            password_form=settings.LOCAL_LOGIN_ENABLED or self.break_glass(),
            break_glass=self.break_glass(),
            break_glass_url=f"{reverse('login')}?{BREAK_GLASS}=1" if not settings.LOCAL_LOGIN_ENABLED else "",
        )
        return context


class LogoutView(auth_views.LogoutView):
    """Django's sign-out; a single sign-on session is also ended at the provider when it has an end-session URL."""

    def post(self, request, *args, **kwargs):
        end_session = settings.OIDC_ENABLED and settings.OIDC_OP_END_SESSION_ENDPOINT
        from_sso = request.session.get(BACKEND_SESSION_KEY) == BACKEND_PATH
        response = super().post(request, *args, **kwargs)
        if not (end_session and from_sso):
            return response
        # RP-Initiated Logout 1.0 with client_id rather than id_token_hint: no token is kept in the session for it.
        query = urlencode({"client_id": settings.OIDC_RP_CLIENT_ID,
                           "post_logout_redirect_uri": request.build_absolute_uri(reverse("login"))})
        separator = "&" if "?" in end_session else "?"
        return HttpResponseRedirect(f"{end_session}{separator}{query}")


def sso_view(view):
    """Reachable before sign-in (that is their purpose), and a 404 while single sign-on is off."""

    @login_not_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not settings.OIDC_ENABLED:
            raise Http404("Single sign-on is not enabled.")
        return view(request, *args, **kwargs)

    return wrapped


class AuthenticateView(OIDCAuthenticationRequestView):
    """Sends the browser to the provider with state, nonce and a PKCE challenge (kept in the session)."""


class CallbackView(OIDCAuthenticationCallbackView):
    """The provider sends the browser back here with a code; every way this can fail is audited and explained."""

    def get(self, request):
        try:
            return super().get(request)
        except SingleSignOnError as exc:
            return self.refuse(exc.reason, username=exc.username, status=exc.status)
        except SuspiciousOperation:
            # The state is not one this browser's session started (tampered, replayed, or another browser's).
            return self.refuse("the answer does not match a sign-in started in this browser")

    def login_failure(self):
        query = self.request.GET
        if query.get("error"):
            code = query["error"] if OAUTH_ERROR.fullmatch(query["error"]) else "an error"
            reason = f"the identity provider did not sign you in ({code})"
        elif "code" not in query or "state" not in query:
            reason = "the identity provider's answer has no code"
        elif not hasattr(self, "user"):
            reason = "no sign-in was started in this browser, or it has expired"
        else:
            reason = "the account cannot sign in"
        return self.refuse(reason)

    def refuse(self, reason, *, username="", status=400):
        LOGIN_FAILURES.inc()
        log.warning("single sign-on refused: %s", reason)
        target = ("auth.user", "", username) if username else ("oidc.issuer", "", settings.OIDC_OP_ISSUER)
        audit.record("auth.login_failed", actor=AnonymousUser(), outcome="failure",
                     failure_reason=f"single sign-on: {reason}", target=target, details={"method": "oidc"})
        return render(self.request, "registration/sso_failed.html", {"reason": reason}, status=status)


urlpatterns = [
    path("authenticate/", sso_view(AuthenticateView.as_view()), name="authenticate"),
    path("callback/", sso_view(CallbackView.as_view()), name="callback"),
]
