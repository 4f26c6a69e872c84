"""Provider registry and inventory pages (thin: queries through the permission helper, writes through services)."""
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from providers.forms import ProviderForm
from providers.models import Provider, Secret
from providers.services import change_provider, create_provider, request_sync, test_provider_connection
from secretsadmin.listing import paginate
from secretsadmin.permissions import (
    get_object_for_user_or_404,
    permission_required,
    require_permission,
    visible_objects_or_403,
)

PROVIDER_FIELDS = ("name", "kind", "description", "enabled", "settings", "auth_reference")


def provider_list(request):
    providers = visible_objects_or_403(request.user, "providers.view_provider", Provider.objects.all())
    return render(request, "providers/provider_list.html", {
        "page": paginate(request, providers),
        "can_add": request.user.has_perm("providers.add_provider"),
    })


def provider_detail(request, uuid):
    provider = get_object_for_user_or_404(request.user, "providers.view_provider", Provider.objects.all(), uuid=uuid)
    user = request.user
    return render(request, "providers/provider_detail.html", {
        "provider": provider,
        "secret_count": provider.secrets.count(),
        "can_change": not provider.managed_by_config and (
            user.has_perm("providers.change_provider") or user.has_perm("providers.change_provider", provider)),
        "can_test": user.has_perm("providers.test_provider") or user.has_perm("providers.test_provider", provider),
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
    messages.info(request, f"Sync of {provider.name} queued; refresh in a moment to see the result.")
    return redirect("providers:provider_detail", uuid=provider.uuid)


def secret_list(request):
    secrets = visible_objects_or_403(
        request.user, "providers.view_secret", Secret.objects.select_related("provider")
    )
    return render(request, "providers/secret_list.html", {"page": paginate(request, secrets)})
