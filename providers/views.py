"""Provider registry and inventory pages (thin: queries through the permission helper)."""
from django.shortcuts import render

from providers.models import Provider, Secret
from secretsadmin.listing import paginate
from secretsadmin.permissions import visible_objects_or_403


def provider_list(request):
    providers = visible_objects_or_403(request.user, "providers.view_provider", Provider.objects.all())
    return render(request, "providers/provider_list.html", {"page": paginate(request, providers)})


def secret_list(request):
    secrets = visible_objects_or_403(
        request.user, "providers.view_secret", Secret.objects.select_related("provider")
    )
    return render(request, "providers/secret_list.html", {"page": paginate(request, secrets)})
