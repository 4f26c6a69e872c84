"""Provider registry and inventory pages (thin: queries through the permission helper, writes through services)."""
import logging
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from audit.models import AuditEvent
from providers.adapters.base import SecretError
from providers.adapters.calls import CallPolicy
from providers.filters import ProviderFilter, SecretFilter, rotation_age
from providers.forms import ProviderForm
from providers.inventory_paging import ProviderBlockPaginator
from providers.models import Provider, Secret
from providers.registry import adapter_for
from providers.rotation_schedule import interval_source
from providers.secret_views import creatable_providers
from providers.services import change_provider, create_provider, request_sync, sync_status, test_provider_connection
from rotation.views import secret_panel
from secretsadmin.listing import SinglePassPaginator, paginate
from secretsadmin.permissions import (
    get_object_for_user_or_404,
    has_permission,
    permission_required,
    require_permission,
    visible_objects_or_403,
)

PROVIDER_FIELDS = ("name", "kind", "description", "enabled", "sync_interval_minutes", "settings", "auth_reference")


def provider_list(request):
    providers = visible_objects_or_403(request.user, "providers.view_provider", Provider.objects.all())
    filterset = ProviderFilter(request.GET, queryset=providers, request=request)
    valid = filterset.is_valid()
    return render(request, "providers/provider_list.html", {
        # An invalid filter shows its errors and no rows: showing everything would look like a match.
        "page": paginate(request, filterset.qs if valid else providers.none()),
        "filterset": filterset,
        "filters_valid": valid,
        "querystring": filterset.querystring(),
        "can_add": request.user.has_perm("providers.add_provider"),
    })


def provider_detail(request, uuid):
    provider = get_object_for_user_or_404(request.user, "providers.view_provider", Provider.objects.all(), uuid=uuid)
    user = request.user
    return render(request, "providers/provider_detail.html", {
        "provider": provider,
        **sync_status(provider),
        "can_change": not provider.managed_by_config and (
            user.has_perm("providers.change_provider") or user.has_perm("providers.change_provider", provider)),
        "can_test": user.has_perm("providers.test_provider") or user.has_perm("providers.test_provider", provider),
        "can_manage": has_permission(user, "providers.manage_provider_permissions", provider),
        "can_sync": provider.enabled and (
            user.has_perm("providers.sync_provider") or user.has_perm("providers.sync_provider", provider)),
    })


@permission_required("providers.add_provider")
def provider_create(request):
    form = ProviderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        fields = {k: form.cleaned_data[k] for k in PROVIDER_FIELDS}
        try:
            provider = create_provider(actor=request.user, **fields)
        except IntegrityError:
            form.add_error("name", "A provider with this name already exists.")
        else:
            messages.success(request, f"Provider {provider.name} registered.")
            return redirect("providers:provider_detail", uuid=provider.uuid)
    return render(request, "providers/provider_form.html", {"form": form, "creating": True})


def provider_edit(request, uuid):
    provider = get_object_for_user_or_404(request.user, "providers.view_provider", Provider.objects.all(), uuid=uuid)
    require_permission(request.user, "providers.change_provider", provider)
    if provider.managed_by_config:
        raise PermissionDenied("This provider is managed by the configuration file; change it there.")
    form = ProviderForm(request.POST or None, initial=ProviderForm.initial_for(provider))
    if request.method == "POST" and form.is_valid():
        fields = {k: form.cleaned_data[k] for k in PROVIDER_FIELDS}
        try:
            change_provider(provider, actor=request.user, **fields)
        except IntegrityError:
            form.add_error("name", "A provider with this name already exists.")
        else:
            messages.success(request, f"Provider {fields['name']} saved.")
            return redirect("providers:provider_detail", uuid=provider.uuid)
    return render(request, "providers/provider_form.html", {"form": form, "provider": provider})


@require_POST
def provider_test(request, uuid):
    provider = get_object_for_user_or_404(request.user, "providers.view_provider", Provider.objects.all(), uuid=uuid)
    require_permission(request.user, "providers.test_provider", provider)
    ok, message = test_provider_connection(provider, actor=request.user)
    (messages.success if ok else messages.error)(request, f"Connection test of {provider.name}: {message}")
    return redirect("providers:provider_detail", uuid=provider.uuid)


@require_POST
def provider_sync(request, uuid):
    provider = get_object_for_user_or_404(request.user, "providers.view_provider", Provider.objects.all(), uuid=uuid)
    require_permission(request.user, "providers.sync_provider", provider)
    request_sync(provider, actor=request.user)
    messages.info(request, f"Sync of {provider.name} queued; its progress shows below.")
    return redirect("providers:provider_detail", uuid=provider.uuid)


def provider_sync_status(request, uuid):
    """The provider page's sync card, polled by htmx while a sync is queued or running."""
    provider = get_object_for_user_or_404(request.user, "providers.view_provider", Provider.objects.all(), uuid=uuid)
    return render(request, "providers/_sync_status.html", {"provider": provider, **sync_status(provider)})


# Any UUID will do: it only marks where each secret's own goes in the reversed URL.
_UUID_SLOT = UUID(int=0)


def _set_detail_urls(secrets):
    """secret.detail_url (its get_absolute_url()) for a page of secrets, from one reverse() rather than fifty:
    reverse() takes tens of microseconds, more than anything else a row costs to render."""
    pattern = reverse("providers:secret_detail", args=[_UUID_SLOT])
    for secret in secrets:
        secret.detail_url = pattern.replace(str(_UUID_SLOT), str(secret.uuid))


@require_safe
def secret_list(request):
    secrets = visible_objects_or_403(
        request.user, "providers.view_secret", Secret.objects.select_related("provider")
    )
    filterset = SecretFilter(request.GET, queryset=secrets, request=request)
    valid = filterset.is_valid()
    # An invalid filter shows its errors and no rows: showing everything would look like a match.
    if not valid:
        page = paginate(request, secrets.none())
    elif filterset.in_provider_order():
        page = paginate(request, filterset.qs, paginator_class=ProviderBlockPaginator)
    else:
        page = paginate(request, filterset.qs, paginator_class=SinglePassPaginator)
    now = timezone.now()
    intervals = interval_source().intervals_for(page.object_list)
    for secret in page.object_list:
        secret.age = rotation_age(secret, now, intervals[secret.pk])
    _set_detail_urls(page.object_list)
    return render(request, "providers/secret_list.html", {
        "filterset": filterset,
        "filters_valid": valid,
        "page": page,
        "querystring": filterset.querystring(),
        "can_create": creatable_providers(request.user).exists(),
    })


# A page waits for the provider: fail within seconds rather than retrying for the adapters' default 30.
DESCRIBE_POLICY = CallPolicy(connect_timeout=3, read_timeout=5, attempts=2, initial_wait=0.1, max_wait=0.5,
                             total_timeout=8)
AUDIT_TRAIL_LENGTH = 20


@require_safe
def secret_detail(request, uuid):
    user = request.user
    secret = get_object_for_user_or_404(user, "providers.view_secret", Secret.objects.select_related("provider"),
                                        uuid=uuid)
    versions, versions_error = (), ""
    try:
        versions = adapter_for(secret.provider, DESCRIBE_POLICY).describe_secret(secret.name).versions
    except SecretError as exc:
        versions_error = type(exc).__name__
    except Exception:  # a misconfigured provider (missing setting, bad URL) must not become a 500
        logging.getLogger(__name__).exception("describing %s failed unexpectedly", secret)
        versions_error = "Other"
    audit_trail = None
    if has_permission(user, "audit.view_auditevent"):
        audit_trail = list(AuditEvent.objects.filter(secret_name=secret.name, provider=secret.provider.name)
                           .defer("details").order_by("-sequence")[:AUDIT_TRAIL_LENGTH])
    return render(request, "providers/secret_detail.html", {
        "secret": secret,
        "age": rotation_age(secret),
        "tags": sorted(secret.tags.items()) if isinstance(secret.tags, dict) else [],
        "versions": versions[::-1],  # adapters list the oldest first
        "versions_error": versions_error,
        "audit_trail": audit_trail,
        "audit_trail_length": AUDIT_TRAIL_LENGTH,
        "can_reveal": has_permission(user, "providers.reveal_secret", secret),
        "can_change": has_permission(user, "providers.change_secret", secret),
        "can_revoke": secret.status == Secret.Status.ACTIVE and has_permission(user, "providers.delete_secret", secret),
        "can_manage": has_permission(user, "providers.manage_permissions", secret),
        **secret_panel(user, secret),
    })

