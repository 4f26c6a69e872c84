"""The audited reveal: a secret's value shown once, to someone with the reveal permission and a reason."""
from django import forms
from django.conf import settings
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django_ratelimit.core import is_ratelimited

import audit
from providers.adapters.base import SecretError
from providers.models import Secret
from providers.registry import adapter_for
from secretsadmin.metrics import SecretMetrics
from secretsadmin.mfa import has_totp_device, is_verified
from secretsadmin.mfa.middleware import step_up
from secretsadmin.permissions import get_object_for_user_or_404, has_permission
from secretsadmin.reauth import confirm_password, confirm_second_factor, recently_authenticated

PERMISSION = "providers.reveal_secret"


class RevealForm(forms.Form):
    reason = forms.CharField(min_length=10, max_length=500, widget=forms.Textarea(attrs={"rows": 2}),
                             help_text="Why you need the value (ticket, incident). It is kept in the audit log.")
    # Asked for when the password was last entered more than REAUTH_SECONDS ago (secretsadmin.reauth).
    password = forms.CharField(required=False, strip=False, max_length=4096, widget=forms.PasswordInput,
                               label="Your password", help_text="Confirm it is you before the value is shown.")
    # ... or a current authenticator code instead (people who sign in through SSO have no password here).
    otp_code = forms.CharField(required=False, max_length=32, label="Or a code from your authenticator app")

    def __init__(self, *args, reauth_required=True, **kwargs):
        super().__init__(*args, **kwargs)
        if not reauth_required:
            # Not asked for, so not shown: whatever a hand-made request sends in them is ignored, not an error
            # on a field the page does not show.
            del self.fields["password"], self.fields["otp_code"]


def _record(secret, user, *, reason, failure=""):
    # Recorded on its own, never inside a transaction that a failure rolls back.
    SecretMetrics.record_secret_retrieval(secret.name, not failure, provider=secret.provider.name)
    audit.record("secret.retrieval", actor=user, target=secret, provider=secret.provider.name,
                 secret_name=secret.name, outcome="failure" if failure else "success", failure_reason=failure,
                 details={"via": "reveal", "reason": reason})


def reveal_value(secret, *, actor, reason):
    """Read the current value through the adapter and audit the retrieval. Raises SecretError."""
    try:
        value = adapter_for(secret.provider).get_secret(secret.name)
    except SecretError as exc:
        _record(secret, actor, reason=reason, failure=type(exc).__name__)
        raise
    _record(secret, actor, reason=reason)
    # Two facts, two events: the provider was read (the policy's Retrieval, as a worker's read would be)
    # and a person was shown the value.
    audit.record("secret.revealed", actor=actor, target=secret, provider=secret.provider.name,
                 secret_name=secret.name, details={"reason": reason})
    return value


def _reauthenticate(request, form):
    """None once the password or a current authenticator code checks out; else why not (the form says it)."""
    code, password = form.cleaned_data["otp_code"], form.cleaned_data["password"]
    if code:
        outcome = confirm_second_factor(request, code)
        if outcome.ok:
            return None
        if outcome.error == "throttled":
            form.add_error("otp_code", f"Too many wrong codes. Wait {outcome.retry_after} seconds, then try again.")
            return "throttled"
        form.add_error("otp_code", "That code is not right, or it was already used.")
        return "wrong"
    if confirm_password(request, password):
        return None
    if request.user.has_usable_password():
        form.add_error("password", "Enter your current password or a code from your authenticator app to reveal "
                                   "the value.")
    else:
        form.add_error("otp_code", "Enter a code from your authenticator app to reveal the value.")
    return "wrong" if password else "missing"


@never_cache
@sensitive_post_parameters("password", "otp_code")
def secret_reveal(request, uuid):
    secret = get_object_for_user_or_404(request.user, "providers.view_secret",
                                        Secret.objects.select_related("provider"), uuid=uuid)
    reauth_required = not recently_authenticated(request)
    form = RevealForm(request.POST or None, reauth_required=reauth_required)
    context = {"secret": secret, "form": form, "reauth_required": reauth_required,
               "has_password": request.user.has_usable_password()}
    if not has_permission(request.user, PERMISSION, secret):
        if request.method == "POST":
            _record(secret, request.user, reason=request.POST.get("reason", "")[:500], failure="permission denied")
        return render(request, "providers/secret_reveal.html", {**context, "refused": True}, status=403)
    # Step-up: whatever the role, a value is shown only to a session confirmed with a second factor.
    if not is_verified(request.user):
        if request.method == "POST":
            _record(secret, request.user, reason=request.POST.get("reason", "")[:500],
                    failure="two-factor verification required")
        return step_up(request, request.path)
    context["has_authenticator"] = has_totp_device(request.user)
    if request.method != "POST" or not form.is_valid():
        return render(request, "providers/secret_reveal.html", context, status=400 if form.errors else 200)
    reason = form.cleaned_data["reason"]
    if context["reauth_required"]:
        refused = _reauthenticate(request, form)
        if refused:
            if refused != "missing":
                _record(secret, request.user, reason=reason, failure="re-authentication failed")
            return render(request, "providers/secret_reveal.html", context,
                          status=429 if refused == "throttled" else 403)
        context["reauth_required"] = False
    if is_ratelimited(request, group="reveal", key="user", rate=settings.REVEAL_RATE, increment=True):
        _record(secret, request.user, reason=reason, failure="rate limited")
        return render(request, "providers/secret_reveal.html", {**context, "rate_limited": True}, status=429)
    try:
        value = reveal_value(secret, actor=request.user, reason=reason)
    except SecretError as exc:
        return render(request, "providers/secret_reveal.html", {**context, "error": type(exc).__name__}, status=502)
    # never_cache adds Cache-Control: no-store, so neither the browser nor a proxy keeps the page.
    return render(request, "providers/secret_reveal.html", {**context, "value": value})
