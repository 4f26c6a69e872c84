"""`manage.py load_providers`: register the providers declared in config/<env>.toml (idempotent)."""
from django.core.management.base import BaseCommand

from providers.services import load_providers_from_config


class Command(BaseCommand):
    help = "Create or update the providers declared in the configuration file; safe to run repeatedly."

    def handle(self, *args, **options):
        created, changed, unchanged = load_providers_from_config(actor="system")
        self.stdout.write(f"providers: {len(created)} created, {len(changed)} changed, {len(unchanged)} unchanged")
        for label, names in (("created", created), ("changed", changed)):
            for name in names:
                self.stdout.write(f"  {label}: {name}")
