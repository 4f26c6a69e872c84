"""Build the adapter for a Provider row: its non-secret settings plus credentials resolved just now."""
from providers.adapters import adapter_class
from providers.credentials import resolve_credentials


def adapter_for(provider, policy=None):
    settings = dict(provider.settings)
    reference = provider.auth_reference or {}
    if reference.get("method") == "profile":
        settings["credentials_profile"] = reference.get("profile")
    adapter = adapter_class(provider.kind).from_settings(settings, resolve_credentials(provider), policy)
    adapter.metrics_provider = provider.name  # the provider label of its operation metrics
    return adapter
