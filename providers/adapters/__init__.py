"""Provider adapters behind one interface, loaded lazily so an SDK is imported only when its kind is used."""
from django.utils.module_loading import import_string

ADAPTERS = {
    "aws": "providers.adapters.aws.AwsSecretsManager",
    "vault": "providers.adapters.vault.VaultSecretManager",
    "azure": "providers.adapters.azure.AzureKeyVaultSecretManager",
    "gcp": "providers.adapters.gcp.GcpSecretManager",
}


def adapter_class(kind):
    try:
        return import_string(ADAPTERS[kind])
    except KeyError:
        raise ValueError(f"unknown provider kind {kind!r}; known: {', '.join(ADAPTERS)}") from None
