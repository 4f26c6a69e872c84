"""Secret managers (providers) and the inventory of the secrets they hold."""
from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "providers"
    verbose_name = "Providers and inventory"

    def ready(self):
        from providers.models import PROVIDER_GRANTS, Secret
        from secretsadmin.permissions import register_parent

        register_parent(Secret, "provider", PROVIDER_GRANTS)
