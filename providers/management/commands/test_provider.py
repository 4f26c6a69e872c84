"""`manage.py test_provider NAME`: check a provider's connection; exit 1 with the error class on failure."""
from django.core.management.base import BaseCommand, CommandError

from providers.models import Provider
from providers.services import test_provider_connection


class Command(BaseCommand):
    help = "Test the connection to a provider with its configured credentials (audited)."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name, **options):
        provider = Provider.objects.filter(name=name).first()
        if provider is None:
            known = ", ".join(Provider.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"no provider named {name!r} (known: {known})")
        ok, message = test_provider_connection(provider, actor="system")
        if not ok:
            raise CommandError(f"{name}: {message}")
        self.stdout.write(f"{name}: ok ({message})")
