"""Every form of the application, as the battery submits it: who, where, a valid submission, and which fields
take the payload together (one request per group, the other fields left valid so the group is what is judged).

tests/security/test_form_battery.py fails when a Form or FilterSet class of the project is in no entry here
(or in FORM_BASES), so a new form cannot escape the battery.
"""
import json
import secrets
import uuid
from dataclasses import dataclass, field

from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from guardian.shortcuts import assign_perm

from providers.permissions_services import grant_object_permission
from secretsadmin.mfa.services import pending_device
from tests.conftest import TEST_PASSWORD
from tests.foundation.mfa_helpers import device_code

# Project form classes that are only bases of the forms below, each with the entry that exercises it.
FORM_BASES = {
    "secretsadmin.forms.FilterForm": "the form class of every FilterSet here (provider-list, secret-list, ...)",
    "providers.permission_views._BootstrapForm": "base of the grant, revoke, access-review forms",
    "providers.permission_views._GranteeForm": "base of the grant and revoke forms",
    "providers.secret_forms._Styled": "base of the secret metadata, create and revoke forms",
}


@dataclass(frozen=True)
class Fill:
    """A group whose payload needs shaping (e.g. into JSON): fill(payload, data) edits the submission."""

    name: str
    fill: object
    expected: object  # payload -> the text a success stores verbatim (and the result page shows)


@dataclass(frozen=True)
class Entry:
    name: str
    forms: tuple  # dotted names of the form classes this entry exercises
    method: str
    user: str | None  # a world user (None: a stranger)
    url: object  # world -> URL
    valid: object  # world -> a valid submission (fresh names each call)
    # Tuples of field names, or Fill. Fields are grouped when each is validated on its own anyway; a field whose
    # accepted value goes further (a query, the database, a provider) has a group of its own, the rest valid.
    groups: tuple
    stored: tuple = ()  # fields whose accepted value is kept verbatim (somewhere in the rows a success writes)
    shown: tuple = ()  # fields the result page shows (escaped)
    never_stored: tuple = ()  # fields whose value must not reach the database (secret values)
    wrap: dict = field(default_factory=dict)  # field -> payload -> submitted text
    writes: tuple = ()  # models whose existing rows a success may change or delete
    setup: object = None  # (world, settings) -> None, before the first submission
    show: object = None  # (world, response) -> the page showing what was stored (default: the redirect)
    success_page: str = ""  # success is a 200 page whose context has this (the reveal's "value"), not a redirect
    not_found: bool = False  # a value naming nothing (a username) may be refused with the 404 page
    verified: bool = True  # False: signed in, the second factor not passed yet (the test runs under real_mfa)
    document: bool = False  # answers are downloads (CSV), not HTML pages


def _hex():
    return uuid.uuid4().hex[:10]


def _today():
    return timezone.localdate().isoformat()


def _provider_form(name, address):
    return {"name": name, "kind": "vault", "description": "A vault", "enabled": "on", "sync_interval_minutes": "60",
            "address": address, "namespace": "", "mount": "secret", "role_id": "", "auth_method": "token",
            "auth_source": "env", "references": "token=VAULT_TOKEN"}


PROVIDER_GROUPS = (("description", "namespace", "mount", "role_id"),
                   ("name", "kind", "address", "auth_source", "references", "sync_interval_minutes"))


def _new_account():
    # Without "usable_password" the admin's form sets the password given (Django reads only "false" as "none").
    chosen = secrets.token_urlsafe(16)
    return {"username": f"user{_hex()}", "password1": chosen, "password2": chosen}


def _policy_form(name):
    return {"name": name, "description": "Quarterly rotation", "interval_days": "90", "length": "32",
            "use_lowercase": "on", "use_uppercase": "on", "use_digits": "on", "exclude_characters": "",
            "required_approvals": "1", "grace_period_hours": "24", "target_kind": "none", "target_config": ""}


def _webhook_target(payload, data):
    # A payload inside JSON: escapes (\u0000, a lone \ud800) arrive where the form encoding cannot carry them.
    data["target_kind"] = "webhook"
    data["target_config"] = json.dumps({"url": f"https://hooks.example.invalid/{payload}", "hmac_secret_env": "HOOK"})


POLICY_GROUPS = (("name", "description", "exclude_characters"),
                 ("interval_days", "length", "required_approvals", "grace_period_hours", "target_kind",
                  "target_config", "approver_groups"),
                 Fill("webhook-url", _webhook_target, expected=lambda p: f"https://hooks.example.invalid/{p}"))


def _reveal_setup(world, settings):
    assign_perm("providers.reveal_secret", world["alice"], world.secret)
    settings.REVEAL_RATE = "100000/h"  # the limit has its own test; here every submission must reach the form


def _revoke_setup(world, settings):
    grant_object_permission(world.provider, world["alice"], "view_provider", actor=world["erin"])


def _emergency_setup(world, settings):
    assign_perm("providers.emergency_rotation", world["bob"], world.secret)


ENTRIES = [
    Entry("login", ("secretsadmin.oidc_views.SignInForm",), "POST", None,
          url=lambda w: reverse("login"),
          valid=lambda w: {"username": "alice", "password": TEST_PASSWORD, "next": ""},
          groups=(("username", "password"), ("next",)), writes=("auth.user",),
          setup=lambda w, s: w["alice"], show=lambda w, r: reverse("dashboard:home")),
    Entry("provider-create", ("providers.forms.ProviderForm",), "POST", "erin",
          url=lambda w: reverse("providers:provider_create"),
          valid=lambda w: _provider_form(f"battery-{_hex()}", "http://127.0.0.1:8200"),
          groups=PROVIDER_GROUPS, stored=("description", "namespace", "mount", "role_id"), shown=("description",)),
    Entry("provider-edit", ("providers.forms.ProviderForm",), "POST", "erin",
          url=lambda w: reverse("providers:provider_edit", args=[w.provider.uuid]),
          valid=lambda w: _provider_form("vault-main", w.provider.settings["address"]),
          groups=PROVIDER_GROUPS, stored=("description", "namespace", "mount", "role_id"), shown=("description",),
          writes=("providers.provider",)),
    Entry("secret-edit", ("providers.secret_forms.SecretMetadataForm",), "POST", "erin",
          url=lambda w: reverse("providers:secret_edit", args=[w.secret.uuid]),
          valid=lambda w: {"owner": "platform", "environment": "staging", "description": "Rotated by platform",
                           "tags": "tier=1"},
          groups=(("owner", "environment", "description", "tags"),), wrap={"tags": lambda p: f"note={p}"},
          stored=("owner", "environment", "description", "tags"), shown=("owner", "description", "tags"),
          writes=("providers.secret",)),
    Entry("secret-create", ("providers.secret_forms.SecretCreateForm",), "POST", "erin",
          url=lambda w: reverse("providers:secret_create"),
          valid=lambda w: {"provider": str(w.provider.uuid), "name": f"battery/{_hex()}#password",
                           "value": "v" * 24, "confirm": "v" * 24, "owner": "platform", "environment": "prod",
                           "description": "Created by the battery"},
          # The name alone (the provider valid), so that it reaches the adapter's own checks.
          groups=(("owner", "environment", "description"), ("name",), ("value", "confirm", "provider")),
          stored=("owner", "environment", "description"), shown=("owner", "description"),
          never_stored=("value", "confirm")),
    Entry("secret-revoke", ("providers.secret_forms.SecretRevokeForm",), "POST", "erin",
          url=lambda w: reverse("providers:secret_revoke", args=[w.secret.uuid]),
          valid=lambda w: {"confirm_name": w.secret.name, "reason": "Leaked in a support ticket"},
          groups=(("reason",), ("confirm_name",)), stored=("reason",), writes=("providers.secret",)),
    Entry("secret-reveal", ("providers.reveal.RevealForm",), "POST", "alice",
          url=lambda w: reverse("providers:secret_reveal", args=[w.secret.uuid]),
          valid=lambda w: {"reason": "INC-1234 database outage", "password": "", "otp_code": ""},
          groups=(("reason",), ("password", "otp_code")), stored=("reason",), never_stored=("password",),
          setup=_reveal_setup, success_page="value"),
    # The second factor. Verify and set-up come before it is passed; a valid code is the current one of the device.
    Entry("mfa-verify", ("secretsadmin.mfa.forms.CodeForm",), "POST", "alice",
          url=lambda w: reverse("mfa:verify"),
          valid=lambda w: {"code": device_code(w.authenticator), "next": ""},
          # A success redirects to `next` (any local path): what it shows is the dashboard, verified.
          groups=(("code", "next"), ("next",)), writes=("otp_totp.totpdevice",),
          setup=lambda w, s: w.authenticator, show=lambda w, r: reverse("dashboard:home"), verified=False),
    Entry("mfa-setup", ("secretsadmin.mfa.forms.CodeForm",), "POST", "bob",
          url=lambda w: reverse("mfa:setup"),
          valid=lambda w: {"code": device_code(pending_device(w["bob"])), "next": ""},
          # A success confirms the device and shows the new recovery codes, with `next` as the way on.
          groups=(("code", "next"), ("next",)), writes=("otp_totp.totpdevice",),
          setup=lambda w, s: pending_device(w["bob"]), success_page="codes", verified=False),
    Entry("mfa-recovery-codes", ("secretsadmin.mfa.forms.CodeForm",), "POST", "alice",
          url=lambda w: reverse("mfa:recovery_codes"),
          valid=lambda w: {"code": device_code(TOTPDevice.objects.get(user=w["alice"], confirmed=True))},
          groups=(("code",),), setup=lambda w, s: w.recovery_codes),
    # alice's authenticator and recovery codes are there to be (not) removed by a payload naming someone else.
    Entry("mfa-reset", ("secretsadmin.mfa.forms.ResetForm",), "POST", "erin",
          url=lambda w: reverse("mfa:reset"), valid=lambda w: {"username": "alice"},
          groups=(("username",),), setup=lambda w, s: (w.authenticator, w.recovery_codes), not_found=True),
    Entry("permission-grant", ("providers.permission_views.GrantForm",), "POST", "erin",
          url=lambda w: reverse("access:provider_permissions", args=[w.provider.uuid]),
          valid=lambda w: {"operation": "grant", "grantee_type": "user", "name": "mallory",
                           "action": "view_provider"},
          groups=(("name",), ("grantee_type", "action")), setup=lambda w, s: w["mallory"]),
    Entry("permission-revoke", ("providers.permission_views.RevokeForm",), "POST", "erin",
          url=lambda w: reverse("access:provider_permissions", args=[w.provider.uuid]),
          valid=lambda w: {"operation": "revoke", "grantee_type": "user", "grantee_id": str(w["alice"].pk),
                           "action": "view_provider"},
          groups=(("grantee_id", "grantee_type", "action"),), setup=_revoke_setup,
          writes=("providers.provideruserobjectpermission",)),
    Entry("access-review-filter", ("providers.permission_views.AccessFilterForm",), "GET", "dana",
          url=lambda w: reverse("access:review"), valid=lambda w: {"provider": "vault-main"},
          groups=(("user",), ("provider", "action", "page")), setup=lambda w, s: w.secret),
    Entry("access-review-note", ("providers.permission_views.ReviewForm",), "POST", "dana",
          url=lambda w: reverse("access:review"), valid=lambda w: {"note": "Checked every grant; none stale."},
          groups=(("note",),), stored=("note",), shown=("note",)),
    Entry("rotation-list-filter", ("rotation.forms.RotationRequestFilter",), "GET", "bob",
          url=lambda w: reverse("rotation:request_list"), valid=lambda w: {"state": "open"},
          groups=(("q",), ("state", "trigger", "failed", "mine", "secret", "page")),
          setup=lambda w, s: w.rotation),
    Entry("rotation-request", ("rotation.forms.RotationRequestForm",), "POST", "bob",
          url=lambda w: reverse("rotation:request_create", args=[w.secret.uuid]),
          valid=lambda w: {"reason": "Quarterly rotation"}, groups=(("reason",),),
          stored=("reason",), shown=("reason",), setup=lambda w, s: w.policy),
    Entry("rotation-emergency", ("rotation.forms.EmergencyRotationForm",), "POST", "bob",
          url=lambda w: reverse("rotation:emergency_create", args=[w.secret.uuid]),
          valid=lambda w: {"reason": "Key pasted in a public channel"}, groups=(("reason",),),
          stored=("reason",), shown=("reason",), setup=_emergency_setup),
    Entry("rotation-decision", ("rotation.forms.DecisionForm",), "POST", "charlie",
          url=lambda w: reverse("rotation:request_decide", args=[w.rotation.uuid]),
          valid=lambda w: {"decision": "approve", "comment": "Looks right"},
          groups=(("comment",), ("decision",)), stored=("comment",), shown=("comment",),
          writes=("rotation.rotationrequest", "providers.secret")),
    Entry("rotation-cancel", ("rotation.forms.CancelForm",), "POST", "bob",
          url=lambda w: reverse("rotation:request_cancel", args=[w.rotation.uuid]),
          valid=lambda w: {"reason": "Asked for the wrong secret"}, groups=(("reason",),), stored=("reason",),
          writes=("rotation.rotationrequest", "providers.secret")),
    Entry("rotation-review", ("rotation.forms.ReviewForm",), "POST", "charlie",
          url=lambda w: reverse("rotation:review_acknowledge", args=[w.emergency.uuid]),
          valid=lambda w: {"note": "Consumers updated; leak closed."}, groups=(("note",),),
          stored=("note",), shown=("note",), writes=("rotation.rotationrequest",)),
    Entry("policy-create", ("rotation.forms.RotationPolicyForm",), "POST", "erin",
          url=lambda w: reverse("rotation:policy_create"), valid=lambda w: _policy_form(f"policy-{_hex()}"),
          groups=POLICY_GROUPS, stored=("name", "description", "exclude_characters"),
          shown=("name", "description")),
    Entry("policy-edit", ("rotation.forms.RotationPolicyForm",), "POST", "erin",
          url=lambda w: reverse("rotation:policy_edit", args=[w.policy.uuid]),
          valid=lambda w: _policy_form("battery-policy"), groups=POLICY_GROUPS,
          stored=("name", "description", "exclude_characters"), shown=("name", "description"),
          writes=("rotation.rotationpolicy",)),
    Entry("policy-assignment", ("rotation.forms.AssignmentForm",), "POST", "erin",
          url=lambda w: reverse("rotation:assignment_create", args=[w.policy.uuid]),
          valid=lambda w: {"provider": str(w.other_provider.pk), "secret_name": "", "environment": "staging",
                           "tag_key": "tier", "tag_value": "1", "priority": "10"},
          groups=(("environment", "tag_key", "tag_value"), ("priority",), ("secret_name", "provider")),
          stored=("environment", "tag_key", "tag_value"), shown=("environment", "tag_key", "tag_value")),
    Entry("snapshot-create", ("compliance.snapshot_views.SnapshotForm",), "POST", "dana",
          url=lambda w: reverse("compliance:snapshot_create"),
          valid=lambda w: {"framework": "nist-800-53", "period_start": _today(), "period_end": _today()},
          groups=(("framework", "period_start", "period_end"),), setup=lambda w, s: w.event),
    Entry("compliance-period", ("compliance.forms.PeriodForm",), "GET", "dana",
          url=lambda w: reverse("compliance:overview"), valid=lambda w: {},
          groups=(("start", "end"),)),
    Entry("compliance-framework-filter", ("compliance.forms.FrameworkFilterForm",), "GET", "dana",
          url=lambda w: reverse("compliance:framework", args=["iso27001"]), valid=lambda w: {},
          groups=(("start", "end", "status", "edition"),)),
    Entry("audit-filter", ("audit.filters.AuditEventFilter",), "GET", "dana",
          url=lambda w: reverse("audit:event_list"), valid=lambda w: {},
          groups=(("actor", "provider", "secret_name", "q"), ("since", "until", "event_type", "outcome", "page")),
          setup=lambda w, s: w.event),
    Entry("audit-export-filter", ("audit.filters.AuditEventFilter",), "GET", "dana",
          url=lambda w: reverse("audit:export_csv"), valid=lambda w: {},
          groups=(("actor", "provider", "secret_name", "q"), ("since", "until", "event_type", "outcome")),
          setup=lambda w, s: w.event, document=True),
    Entry("provider-list-filter", ("providers.filters.ProviderFilter",), "GET", "erin",
          url=lambda w: reverse("providers:provider_list"), valid=lambda w: {},
          groups=(("sync", "page"),), setup=lambda w, s: w.provider),
    # Sorted by name: the single-pass paginator, whose page number becomes an OFFSET (the page group's own).
    Entry("secret-list-filter", ("providers.filters.SecretFilter",), "GET", "alice",
          url=lambda w: reverse("providers:secret_list"), valid=lambda w: {"sort": "name"},
          groups=(("q", "environment", "owner"), ("provider", "status", "rotation", "out_of_band", "sort"), ("page",)),
          setup=lambda w, s: w.secret),
    Entry("admin-user-add", ("django.contrib.auth.forms.AdminUserCreationForm",), "POST", "erin",
          url=lambda w: reverse("admin:auth_user_add"),
          valid=lambda w: _new_account(),
          groups=(("username",), ("password1", "password2")), stored=("username",), shown=("username",),
          never_stored=("password1", "password2")),
    # The admin builds the group form from the model: no class of its own to name.
    Entry("admin-group-add", (), "POST", "root",
          url=lambda w: reverse("admin:auth_group_add"), valid=lambda w: {"name": f"team-{_hex()}"},
          groups=(("name",),), stored=("name",), shown=("name",)),
    Entry("admin-search", (), "GET", "erin",
          url=lambda w: reverse("admin:audit_auditevent_changelist"), valid=lambda w: {},
          groups=(("q",), ("p",)), setup=lambda w, s: w.event),
]
