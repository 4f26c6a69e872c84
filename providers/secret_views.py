"""Editing a secret's metadata and creating a secret from the dashboard (thin: services do the work)."""
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render

from providers.adapters.base import SecretError
from providers.models import Provider, Secret
from providers.secret_forms import SecretCreateForm, SecretMetadataForm, SecretRevokeForm
from providers.secret_services import change_secret_metadata, create_secret_in_provider, revoke_secret_in_provider
from secretsadmin.permissions import (
    get_object_for_user_or_404,
    holds_permission_anywhere,
    objects_for_user,
    require_permission,
)


def secret_edit(request, uuid):
    secret = get_object_for_user_or_404(request.user, "providers.view_secret",
                                        Secret.objects.select_related("provider"), uuid=uuid)
    require_permission(request.user, "providers.change_secret", secret)
    form = SecretMetadataForm(request.POST or None, initial=SecretMetadataForm.initial_for(secret))
    if request.method == "POST" and form.is_valid():
        change_secret_metadata(secret, actor=request.user, **form.cleaned_data)
        messages.success(request, "Saved.")
        return redirect(secret.get_absolute_url())
    return render(request, "providers/secret_form.html", {"form": form, "secret": secret})


def creatable_providers(user):
    """Enabled providers the user may add secrets to: everywhere they can see with the global
    add_secret permission, or where they manage a provider's secrets by grant."""
    enabled = Provider.objects.filter(enabled=True)
    if user.has_perm("providers.add_secret"):
        return objects_for_user(user, "providers.view_provider", enabled)
    if not holds_permission_anywhere(user, "providers.change_provider_secrets"):
        return enabled.none()  # most users: the kinds of grant they hold are cached, guardian's lookups are not
    return objects_for_user(user, "providers.change_provider_secrets", enabled)


def secret_create(request):
    providers = creatable_providers(request.user)
    if not providers.exists():
        raise PermissionDenied("You may not create secrets in any provider.")
    form = SecretCreateForm(request.POST or None, providers=providers)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            secret = create_secret_in_provider(
                data["provider"], actor=request.user, name=data["name"], value=data["value"],
                owner=data["owner"], environment=data["environment"], description=data["description"])
        except SecretError as exc:
            # The class and the adapter's message, which never carries a value; the form forgets the value.
            form.add_error(None, f"The provider refused: {type(exc).__name__}: {exc}")
        else:
            messages.success(request, f"Secret {secret.name} created in {secret.provider.name}.")
            return redirect(secret.get_absolute_url())
    return render(request, "providers/secret_form.html", {"form": form, "creating": True})


def secret_revoke(request, uuid):
    secret = get_object_for_user_or_404(request.user, "providers.view_secret",
                                        Secret.objects.select_related("provider"), uuid=uuid)
    require_permission(request.user, "providers.delete_secret", secret)
    form = SecretRevokeForm(request.POST or None, secret=secret)
    if request.method == "POST" and form.is_valid():
        try:
            revoke_secret_in_provider(secret, actor=request.user, reason=form.cleaned_data["reason"])
        except SecretError as exc:
            form.add_error(None, f"The provider refused: {type(exc).__name__}: {exc}")
        else:
            messages.success(request, f"{secret.name} was revoked in {secret.provider.name}.")
            return redirect(secret.get_absolute_url())
    return render(request, "providers/secret_revoke.html", {"form": form, "secret": secret})
