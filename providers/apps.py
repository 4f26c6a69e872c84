"""Secret managers (providers) and the inventory of the secrets they hold."""
from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "providers"
    verbose_name = "Providers and inventory"
