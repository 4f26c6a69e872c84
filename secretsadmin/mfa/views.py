"""The second-factor pages: verify, set up (QR code and key), recovery codes, the account page, and resets."""
from base64 import b32encode

import django_otp
import segno
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, Q
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_otp.plugins.otp_totp.models import TOTPDevice

from secretsadmin.listing import paginate
from secretsadmin.mfa import has_totp_device, is_verified, mfa_required_for
from secretsadmin.mfa.forms import CodeForm, ResetForm
from secretsadmin.mfa.middleware import verification_url, verified_session_required
from secretsadmin.mfa.services import (
    RECOVERY,
    confirm_enrolment,
    pending_device,
    regenerate_recovery_codes,
    reset_mfa,
    status,
    verify_code,
)
from secretsadmin.permissions import permission_required
from secretsadmin.reauth import mark_recently_authenticated
from secretsadmin.roles import role_names_of

MANAGE_USERS = "auth.change_user"  # Administrators: who may reset someone else's second factor
require_get_or_post = require_http_methods(["GET", "HEAD", "POST"])


def _next_url(request):
    """Where to go once verified: a local ?next= (kept through the forms), else the dashboard."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    # A path on this site only: anything else ("NaN", a view's name) is not where the user was going.
    if candidate.startswith("/") and url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return candidate
    return reverse("dashboard:home")


def _mark_verified(request, device):
    """The session passed the second factor: remember the device, and a new session key for the new privilege."""
    django_otp.login(request, device)
    request.session.cycle_key()
    mark_recently_authenticated(request)


def _refusal(form, outcome):
    """Put the services' refusal on the form; the HTTP status says which kind it was."""
    if outcome.error == "throttled":
        form.add_error("code", f"Too many wrong codes. Wait {outcome.retry_after} seconds, then try again.")
        return 429
    if outcome.error == "no_device":
        form.add_error("code", "You have no recovery codes." if outcome.method == RECOVERY
                       else "You have no authenticator app set up.")
        return 400
    form.add_error("code", "That code is not right, or it was already used. Check your authenticator app's "
                           "clock and try the current code.")
    return 403


def _throttled(response, outcome):
    if outcome.error == "throttled":
        response["Retry-After"] = str(outcome.retry_after)
    return response


@never_cache
@require_get_or_post
@sensitive_post_parameters("code")
def verify(request):
    user, next_url = request.user, _next_url(request)
    if is_verified(user):
        return HttpResponseRedirect(next_url)
    if not has_totp_device(user):
        return redirect(verification_url(user, next_url))
    form = CodeForm(request.POST or None, accept_recovery=True)
    status_code = 200
    if request.method == "POST":
        if form.is_valid():
            purpose = "sign_in" if mfa_required_for(user) else "step_up"
            outcome = verify_code(user, form.cleaned_data["code"], purpose=purpose)
            if outcome.ok:
                _mark_verified(request, outcome.device)
                if outcome.method == RECOVERY:
                    messages.warning(request, f"You used a recovery code; {outcome.remaining} left. Lost your "
                                              "authenticator app? Set up a new one on your account page.")
                return HttpResponseRedirect(next_url)
            status_code = _refusal(form, outcome)
            return _throttled(render(request, "mfa/verify.html", {"form": form, "next": next_url},
                                     status=status_code), outcome)
        status_code = 400
    return render(request, "mfa/verify.html", {"form": form, "next": next_url}, status=status_code)


def _qr_data_uri(device):
    # An <img> with a data: URI: the CSP allows data: images and no inline script or style is needed.
    return segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=4, dark="#000", light="#fff")


def _grouped(key):
    return " ".join(key[i:i + 4] for i in range(0, len(key), 4))


def _show_codes(request, codes, next_url, *, heading):
    return render(request, "mfa/recovery_codes.html", {"codes": codes, "next": next_url, "heading": heading})


@never_cache
@require_get_or_post
@sensitive_post_parameters("code")
def setup(request):
    """Set up an authenticator app: its key as a QR code and as text, confirmed with its first code."""
    user, next_url = request.user, _next_url(request)
    replacing = has_totp_device(user)
    if replacing and not is_verified(user):
        # A new authenticator needs the current one first, or a stolen password would be enough to add one.
        return redirect(verification_url(user, request.get_full_path()))
    form, outcome, status_code = CodeForm(request.POST or None), None, 200
    if request.method == "POST":
        status_code = 400
        if form.is_valid():
            outcome = confirm_enrolment(user, form.cleaned_data["code"], actor=user)
            if outcome.ok:
                _mark_verified(request, outcome.device)
                if outcome.codes:
                    return _show_codes(request, outcome.codes, next_url, heading="Two-factor authentication is on")
                messages.success(request, "Your new authenticator app is set up; the old one no longer works.")
                return HttpResponseRedirect(next_url)
            if outcome.error == "no_device":  # the page had expired and its key with it: show a new one
                form, status_code = CodeForm(), 200
                messages.warning(request, "That set-up page had expired. Scan the new code below.")
            else:
                status_code = _refusal(form, outcome)
    device = pending_device(user)
    response = render(request, "mfa/setup.html", {
        "form": form, "next": next_url, "replacing": replacing, "required": mfa_required_for(user),
        "qr": _qr_data_uri(device), "key": _grouped(b32encode(device.bin_key).decode()),
    }, status=status_code)
    return _throttled(response, outcome) if outcome else response


@never_cache
@require_get_or_post
@sensitive_post_parameters("code")
@verified_session_required
def recovery_codes(request):
    """New recovery codes, confirmed with a current authenticator code; shown once."""
    user = request.user
    if not has_totp_device(user):
        return redirect(verification_url(user, reverse("mfa:account")))
    form = CodeForm(request.POST or None)
    status_code = 200
    if request.method == "POST":
        status_code = 400
        if form.is_valid():
            outcome = regenerate_recovery_codes(user, form.cleaned_data["code"], actor=user)
            if outcome.ok:
                return _show_codes(request, outcome.codes, reverse("mfa:account"), heading="New recovery codes")
            status_code = _refusal(form, outcome)
            return _throttled(render(request, "mfa/regenerate.html", {"form": form}, status=status_code), outcome)
    return render(request, "mfa/regenerate.html", {"form": form}, status=status_code)


@require_safe
def account(request):
    user = request.user
    return render(request, "mfa/account.html", {
        **status(user), "roles": role_names_of(user), "required": mfa_required_for(user),
        "verified": is_verified(user), "may_reset_others": user.has_perm(MANAGE_USERS),
    })


@require_safe
@permission_required(MANAGE_USERS)
@verified_session_required
def users(request):
    """Everyone's second-factor status, for Administrators, with a reset for a lost phone."""
    unused = Q(recoverycodedevice__codes__used_at__isnull=True)
    people = (get_user_model().objects.filter(is_active=True).order_by("username")
              .annotate(has_authenticator=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
                        recovery_left=Count("recoverycodedevice__codes", filter=unused))
              .prefetch_related("groups"))
    page = paginate(request, people)
    return render(request, "mfa/users.html", {"page": page})


@require_POST
@permission_required(MANAGE_USERS)
@verified_session_required
def reset(request):
    form = ResetForm(request.POST)
    target = None
    if form.is_valid():
        target = get_user_model().objects.filter(username=form.cleaned_data["username"]).first()
    if target is None:
        raise Http404("No such user.")
    if target.pk == request.user.pk:
        messages.error(request, "Use your account page to set up a new authenticator for yourself.")
        return redirect("mfa:users")
    removed = reset_mfa(target, actor=request.user)
    if removed:
        messages.success(request, f"Two-factor authentication of {target.get_username()} was reset; they set it up "
                                  "again at their next sign-in.")
    else:
        messages.info(request, f"{target.get_username()} had no authenticator; their recovery codes, if any, "
                               "were removed.")
    return redirect("mfa:users")
