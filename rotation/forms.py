"""Forms of the rotation pages: the request list's filters, the action forms, and policy editing."""
import json
from datetime import timedelta

import django_filters
from django import forms
from django.contrib.auth.models import Group
from django.utils import timezone

from providers.models import Provider
from rotation.models import RotationPolicy, RotationRequest
from rotation.outcomes import failed_since
from rotation.policies import GeneratorError, generate_secure_secret
from rotation.services import MAX_REASON
from secretsadmin.forms import BootstrapFormMixin, FilterForm, filter_querystring, text_input

State = RotationRequest.State

# ---------------------------------------------------------------- the request list

STATE_GROUPS = {
    "open": RotationRequest.OPEN_STATES,
    "pending": (State.PENDING_APPROVAL,),
    "running": RotationRequest.RUNNABLE_STATES,
    "attention": (State.NEEDS_ATTENTION,),
    "finished": RotationRequest.FINAL_STATES,
}
STATE_GROUP_CHOICES = [("open", "Open"), ("pending", "Pending approval"), ("running", "Running"),
                       ("attention", "Needs attention"), ("review", "Review open"), ("finished", "Finished")]
FAILED_CHOICES = [("7", "In the last 7 days"), ("30", "In the last 30 days"), ("90", "In the last 90 days")]
REQUESTER_CHOICES = [("", "Anyone"), ("true", "Me")]


class RotationRequestFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="secret__name", lookup_expr="icontains", label="Secret",
                                  max_length=200, widget=text_input("name contains"))
    state = django_filters.ChoiceFilter(choices=STATE_GROUP_CHOICES, method="filter_state", label="State",
                                        empty_label="Any")
    trigger = django_filters.ChoiceFilter(choices=RotationRequest.Trigger.choices, label="Trigger", empty_label="Any")
    # Runs whose worker gave up in the window (the audit trail's failed secret.rotation events).
    failed = django_filters.ChoiceFilter(choices=FAILED_CHOICES, method="filter_failed", label="Failed",
                                         empty_label="Any time or never")
    mine = django_filters.BooleanFilter(method="filter_mine", label="Requested by",
                                        widget=forms.Select(choices=REQUESTER_CHOICES))
    # Set by the "all rotations of this secret" link; kept as a hidden field so filtering keeps it.
    secret = django_filters.UUIDFilter(field_name="secret__uuid", widget=forms.HiddenInput)

    class Meta:
        model = RotationRequest
        fields = []
        form = FilterForm

    def filter_state(self, queryset, name, value):
        if value == "review":
            return queryset.filter(review_required=True, reviewed_at__isnull=True)
        return queryset.filter(state__in=STATE_GROUPS[value])

    def filter_failed(self, queryset, name, value):
        return failed_since(queryset, timezone.now() - timedelta(days=int(value)))

    def filter_mine(self, queryset, name, value):
        user = getattr(self.request, "user", None)
        if not value or user is None:
            return queryset
        return queryset.filter(requested_by=user)

    def querystring(self):
        return filter_querystring(self)


# ---------------------------------------------------------------- actions on requests


def _reason_field(label, help_text=""):
    return forms.CharField(label=label, max_length=MAX_REASON, help_text=help_text,
                           widget=forms.Textarea(attrs={"rows": 2}))


class RotationRequestForm(BootstrapFormMixin, forms.Form):
    reason = _reason_field("Reason", "Why this secret should rotate now; approvers read it.")


class EmergencyRotationForm(BootstrapFormMixin, forms.Form):
    reason = _reason_field("What happened", "The suspected compromise; the post-incident review starts from it.")


class DecisionForm(BootstrapFormMixin, forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    comment = forms.CharField(label="Comment", required=False, max_length=MAX_REASON,
                              widget=forms.Textarea(attrs={"rows": 2}),
                              help_text="Optional when approving; say why when rejecting.")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("decision") == "reject" and not (cleaned.get("comment") or "").strip():
            self.add_error("comment", "Say why you reject this request.")
        return cleaned


class CancelForm(BootstrapFormMixin, forms.Form):
    reason = _reason_field("Reason for cancelling")


class ReviewForm(BootstrapFormMixin, forms.Form):
    note = _reason_field("Review note", "What the review found: cause, consumers updated, follow-ups.")


# ---------------------------------------------------------------- policies


def target_kinds():
    try:
        from rotation.targets import TARGET_KINDS
    except ImportError:  # the targets package may be mid-change; the three kinds it is specified to have
        return ["none", "postgresql", "webhook"]
    return list(TARGET_KINDS)


def validate_target(config):
    """The normalised target, or ValueError (TargetConfigError is one) naming the bad field."""
    try:
        from rotation.targets import validate_target_config
    except ImportError:
        if not isinstance(config, dict):
            raise ValueError("target: config must be a JSON object") from None
        return config
    return validate_target_config(config)


def _strings(value):
    """Every key and string inside parsed JSON (without recursion: the parser accepts ~1,000 levels)."""
    pending = [value]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            yield from value.keys()
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


class _GroupsField(forms.ModelMultipleChoiceField):
    """Groups by id. An id beyond a 64-bit integer is no group: refused here, because SQLite cannot even compare
    it (Django's lookup would raise OverflowError, a 500)."""

    def clean(self, value):
        for pk in value if isinstance(value, list | tuple) else ():
            text = str(pk)
            if not (text.isascii() and text.isdigit() and len(text) <= 19 and int(text) < 2**63):
                raise forms.ValidationError(self.error_messages["invalid_pk_value"], code="invalid_pk_value",
                                            params={"pk": pk})
        return super().clean(value)


class RotationPolicyForm(BootstrapFormMixin, forms.ModelForm):
    target_kind = forms.ChoiceField(label="Target", choices=[], help_text="What else must learn the new value.")
    target_config = forms.CharField(
        label="Target settings (JSON)", required=False, widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text='An object with the target\'s settings, e.g. {"url": "https://…", "hmac_secret_env": "HOOK_KEY"}. '
                  "Name environment variables or files that hold credentials; never paste a credential.")

    class Meta:
        model = RotationPolicy
        fields = ["name", "description", "interval_days", "length", "use_lowercase", "use_uppercase", "use_digits",
                  "use_symbols", "exclude_characters", "required_approvals", "approver_groups", "grace_period_hours",
                  "auto_approve_scheduled"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}
        field_classes = {"approver_groups": _GroupsField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target_kind"].choices = [(kind, kind) for kind in target_kinds()]
        self.fields["approver_groups"].queryset = Group.objects.order_by("name")
        target = dict(self.instance.target or {}) if self.instance.pk else {}
        self.initial.setdefault("target_kind", target.pop("kind", "none"))
        self.initial.setdefault("target_config", json.dumps(target, indent=2) if target else "")

    def clean_length(self):
        # The model's bounds, here rather than only after clean(): clean() runs the generator once at this
        # length, and a length of 2**63 would never finish.
        length = self.cleaned_data["length"]
        for validator in RotationPolicy._meta.get_field("length").validators:
            validator(length)
        return length

    def clean_target_config(self):
        text = (self.cleaned_data.get("target_config") or "").strip() or "{}"
        try:
            config = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
        except RecursionError:  # "[[[[…" thousands deep: the parser gives up before it finds an error
            raise forms.ValidationError("Not valid JSON: nested too deeply.") from None
        except ValueError:  # a number of thousands of digits, past Python's limit for reading one
            raise forms.ValidationError("Not valid JSON: a number is too long.") from None
        if not isinstance(config, dict):
            raise forms.ValidationError("Give a JSON object ({…}), or leave it empty.")
        # JSON escapes carry what form fields refuse: \u0000 (PostgreSQL cannot store it) and a lone surrogate
        # such as \ud800 (no UTF-8 page can show it).
        for text in _strings(config):
            if "\x00" in text:
                raise forms.ValidationError("The settings may not contain NUL characters (\\u0000).")
            if not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise forms.ValidationError("The settings contain an invalid character (a lone surrogate).") \
                        from None
        return config

    def clean(self):
        cleaned = super().clean()
        kind, config = cleaned.get("target_kind"), cleaned.get("target_config")
        if kind and config is not None:
            if config.get("kind", kind) != kind:
                self.add_error("target_config", 'Choose the kind in "Target"; the JSON names another one.')
            else:
                try:
                    cleaned["target"] = validate_target({**config, "kind": kind})
                except ValueError as exc:
                    self.add_error("target_config", str(exc))
        if cleaned.get("length"):
            try:
                generate_secure_secret(cleaned["length"], lowercase=cleaned.get("use_lowercase"),
                                       uppercase=cleaned.get("use_uppercase"), digits=cleaned.get("use_digits"),
                                       symbols=cleaned.get("use_symbols"),
                                       exclude=cleaned.get("exclude_characters") or "")
            except GeneratorError as exc:
                self.add_error(None, f"The generator cannot work like this: {exc}.")
        return cleaned

    def policy_fields(self):
        """What the services take: the model fields (groups apart) and the validated target."""
        fields = {name: self.cleaned_data[name] for name in self.Meta.fields if name != "approver_groups"}
        return {**fields, "target": self.cleaned_data["target"]}


class AssignmentForm(BootstrapFormMixin, forms.Form):
    provider = forms.ModelChoiceField(queryset=Provider.objects.none(), required=False, empty_label="Any provider")
    secret_name = forms.CharField(label="One secret", required=False, max_length=512,
                                  help_text="Its exact name in the chosen provider; leave empty to assign by rule.")
    environment = forms.CharField(required=False, max_length=64, help_text="Exact environment, any case.")
    tag_key = forms.CharField(label="Tag key", required=False, max_length=128)
    tag_value = forms.CharField(label="Tag value", required=False, max_length=256,
                                help_text="Empty: any secret carrying the tag key.")
    # The column's range on PostgreSQL (a 4-byte integer); beyond it the INSERT itself would fail.
    priority = forms.IntegerField(min_value=0, max_value=2**31 - 1, initial=100,
                                  help_text="Among rules the lowest number wins.")

    def __init__(self, *args, providers, secrets, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].queryset = providers
        self.secrets = secrets

    def clean(self):
        cleaned = super().clean()
        name, provider = cleaned.get("secret_name", "").strip(), cleaned.get("provider")
        if cleaned.get("tag_value") and not cleaned.get("tag_key"):
            self.add_error("tag_key", "Give the key the value belongs to.")
        if name:
            if provider is None:
                self.add_error("provider", "Choose the provider of the secret.")
                return cleaned
            if cleaned.get("environment") or cleaned.get("tag_key"):
                self.add_error(None, "Assign either one secret or a rule, not both.")
            cleaned["secret"] = self.secrets.filter(provider=provider, name=name).first()
            if cleaned["secret"] is None:
                self.add_error("secret_name", "No secret of that name in this provider.")
        elif not (provider or cleaned.get("environment") or cleaned.get("tag_key")):
            self.add_error(None, "Say where the policy applies: a secret, a provider, an environment or a tag.")
        return cleaned

    def assignment_fields(self):
        data = self.cleaned_data
        if data.get("secret"):
            return {"secret": data["secret"], "priority": data["priority"]}
        return {"provider": data.get("provider"), "environment": data["environment"].strip(),
                "tag_key": data["tag_key"].strip(), "tag_value": data["tag_value"].strip(),
                "priority": data["priority"]}

