"""The permissions tab of a provider or secret, and the access review (thin: services do the work)."""
import csv
import io

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.http import HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

import audit
from audit.storage import AuditWriteError
from providers.access_review import AccessReview
from providers.models import Provider, Secret
from providers.permissions_services import (
    ACTION_LABELS,
    OBJECT_ACTIONS,
    AccessMatrix,
    grant_object_permission,
    grants_on,
    record_access_review,
    revoke_object_permission,
)
from secretsadmin.forms import BootstrapFormMixin
from secretsadmin.listing import paginate
from secretsadmin.permissions import (
    get_object_for_user_or_404,
    has_permission,
    objects_for_user,
    permission_required,
    require_permission,
)
from secretsadmin.spreadsheets import spreadsheet_safe

# kind -> (queryset, permission to see it, permission to manage its grants)
KINDS = {
    "provider": (Provider.objects.all(), "providers.view_provider", "providers.manage_provider_permissions"),
    "secret": (Secret.objects.select_related("provider"), "providers.view_secret", "providers.manage_permissions"),
}
GRANTEE_TYPES = [("user", "User"), ("group", "Group")]


class _BootstrapForm(BootstrapFormMixin, forms.Form):
    pass


class _GranteeForm(_BootstrapForm):
    grantee_type = forms.ChoiceField(choices=GRANTEE_TYPES, label="Grant to")

    def __init__(self, kind, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"] = forms.ChoiceField(choices=[(c, label) for label, c in OBJECT_ACTIONS[kind]])
        self.style_widgets()

    def _find(self, lookup, *, active_only):
        if self.cleaned_data.get("grantee_type") == "group":
            return Group.objects.filter(**lookup).first(), "group"
        users = get_user_model().objects.filter(**lookup)
        # A deactivated account may lose its grants but not gain new ones.
        return (users.filter(is_active=True) if active_only else users).first(), "active user"


class GrantForm(_GranteeForm):
    name = forms.CharField(max_length=150, label="User or group name")

    field_order = ["grantee_type", "name", "action"]

    def clean(self):
        cleaned = super().clean()
        name = cleaned.get("name", "").strip()
        if name and "grantee_type" in cleaned:
            field = "name" if cleaned["grantee_type"] == "group" else get_user_model().USERNAME_FIELD
            cleaned["grantee"], what = self._find({field: name}, active_only=True)
            if cleaned["grantee"] is None:
                self.add_error("name", f"There is no {what} named “{name}”.")
        return cleaned


class RevokeForm(_GranteeForm):
    grantee_id = forms.IntegerField(widget=forms.HiddenInput)

    def clean(self):
        cleaned = super().clean()
        if "grantee_id" in cleaned and "grantee_type" in cleaned:
            cleaned["grantee"], _ = self._find({"pk": cleaned["grantee_id"]}, active_only=False)
            if cleaned["grantee"] is None:
                raise forms.ValidationError("That user or group no longer exists.")
        return cleaned


def _grant_rows(kind, obj):
    return [{"grantee": grantee, "type": "group" if isinstance(grantee, Group) else "user",
             "actions": [(codename, ACTION_LABELS[kind][codename]) for codename in codenames]}
            for grantee, codenames in grants_on(obj)]


@require_http_methods(["GET", "HEAD", "POST"])
def object_permissions(request, kind, uuid):
    queryset, view_perm, manage_perm = KINDS[kind]
    obj = get_object_for_user_or_404(request.user, view_perm, queryset, uuid=uuid)
    require_permission(request.user, manage_perm, obj)
    here = reverse(f"access:{kind}_permissions", args=[obj.uuid])
    form = GrantForm(kind)
    if request.method == "POST":
        operation = request.POST.get("operation")
        change = RevokeForm(kind, request.POST) if operation == "revoke" else GrantForm(kind, request.POST)
        if change.is_valid():
            grantee, codename = change.cleaned_data["grantee"], change.cleaned_data["action"]
            label = ACTION_LABELS[kind][codename]
            if operation == "revoke":
                changed = revoke_object_permission(obj, grantee, codename, actor=request.user)
                messages.success(request, f"Revoked “{label}” from {grantee}." if changed
                                 else f"{grantee} did not hold “{label}”.")
            else:
                changed = grant_object_permission(obj, grantee, codename, actor=request.user)
                messages.success(request, f"Granted “{label}” to {grantee}." if changed
                                 else f"{grantee} already holds “{label}”.")
            # Someone who revoked their own right to manage this object is sent where they may still go.
            if not has_permission(request.user, manage_perm, obj):
                return redirect("providers:provider_list" if kind == "provider" else "providers:secret_list")
            return redirect(here)
        if operation == "revoke":
            messages.error(request, " ".join(change.non_field_errors()) or "That grant could not be revoked.")
            return redirect(here)
        form = change
    provider = obj if kind == "provider" else obj.provider
    inherited = []
    if kind == "secret":
        inherited = _grant_rows("provider", provider)
    return render(request, "providers/permissions.html", {
        "kind": kind,
        "object": obj,
        "provider": provider,
        "grants": _grant_rows(kind, obj),
        "inherited": inherited,
        "form": form,
        "can_manage_provider": kind == "secret" and has_permission(
            request.user, "providers.manage_provider_permissions", provider),
    })


# --- Access review ------------------------------------------------------------------------------------------

class AccessFilterForm(_BootstrapForm):
    provider = forms.ModelChoiceField(queryset=Provider.objects.all(), to_field_name="name", required=False,
                                      empty_label="All providers")
    user = forms.CharField(max_length=150, required=False, label="User name")
    action = forms.ChoiceField(required=False, choices=[("", "Any action"), *(
        (codename, label) for label, codename in OBJECT_ACTIONS["secret"])])

    field_size = "sm"

    def as_params(self):
        """The filters in use, as {name: text}, for links, exports and the review's scope."""
        data = self.cleaned_data
        params = {"provider": data["provider"].name if data.get("provider") else "",
                  "user": data.get("user", "").strip(), "action": data.get("action", "")}
        return {name: value for name, value in params.items() if value}


class ReviewForm(_BootstrapForm):
    note = forms.CharField(max_length=4000, strip=True, label="Review note",
                           widget=forms.Textarea(attrs={"rows": 3}),
                           help_text="What you checked and what you concluded (required).")


CSV_ROWS_PER_CHUNK = 500


_csv_cell = spreadsheet_safe


def csv_lines(matrix):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["provider", "secret", "secret_uuid", "user", "actions", "via"])
    for index, row in enumerate(matrix, start=1):
        writer.writerow([_csv_cell(row.secret.provider.name), _csv_cell(row.secret.name), str(row.secret.uuid),
                         _csv_cell(row.user.get_username()), " ".join(row.actions), _csv_cell(row.via)])
        if index % CSV_ROWS_PER_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def _export_csv(request, matrix, filters):
    # Recorded (and committed) before the first row leaves, like the audit log's own exports.
    try:
        audit.record("report.exported", actor=request.user,
                     details={"report": "access_review", "format": "csv", "filters": filters})
    except AuditWriteError:
        return HttpResponse("The audit log cannot be written right now, so the export was not started.\n",
                            status=503, content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(csv_lines(matrix), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="access-review-{stamp}.csv"'
    return response


@require_http_methods(["GET", "HEAD", "POST"])
@permission_required("audit.view_auditevent")
def access_review(request):
    filter_form = AccessFilterForm(request.GET)
    valid = filter_form.is_valid()
    filters = filter_form.as_params() if valid else {}
    secrets = objects_for_user(request.user, "providers.view_secret", Secret.objects.select_related("provider"))
    if filters.get("provider"):
        secrets = secrets.filter(provider=filter_form.cleaned_data["provider"])
    # An invalid filter shows its errors and no rows: showing everything would look like a match.
    matrix = AccessMatrix(secrets if valid else Secret.objects.none(),
                          username=filters.get("user"), action=filters.get("action"))
    if request.method != "POST" and request.GET.get("format") == "csv":
        if not valid:
            return HttpResponse("Invalid filter.\n", status=400, content_type="text/plain; charset=utf-8")
        return _export_csv(request, matrix, filters)

    querystring = QueryDict(mutable=True)
    querystring.update(filters)
    review_form = ReviewForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and valid and review_form.is_valid():
        scope = ", ".join(f"{name}={value}" for name, value in filters.items()) or "all"
        record_access_review(actor=request.user, note=review_form.cleaned_data["note"], scope=scope[:255],
                             rows_reviewed=matrix.count())
        messages.success(request, f"Access review of {scope} recorded.")
        return redirect(f"{reverse('access:review')}?{querystring.urlencode()}")
    page = paginate(request, matrix)
    labels = ACTION_LABELS["secret"]
    page.object_list = [row._replace(actions=[(c, labels[c]) for c in row.actions]) for row in page.object_list]
    return render(request, "providers/access_review.html", {
        "filter_form": filter_form,
        "filters_valid": valid,
        "querystring": querystring.urlencode(),
        "page": page,
        "review_form": review_form,
        "recent_reviews": AccessReview.objects.select_related("reviewed_by")[:5],
    })
