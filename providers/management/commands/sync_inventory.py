"""`manage.py sync_inventory [PROVIDER ...]`: sync the inventory of the named (or all enabled) providers now."""
from django.core.management.base import BaseCommand, CommandError

from providers.models import Provider
from providers.sync import sync_provider


class Command(BaseCommand):
    help = "Sync the secret inventory from the providers (all enabled ones when none is named)."

    def add_arguments(self, parser):
        parser.add_argument("providers", nargs="*")

    def handle(self, *args, providers, **options):
        chosen = Provider.objects.filter(enabled=True)
        if providers:
            chosen = Provider.objects.filter(name__in=providers)
            unknown = sorted(set(providers) - set(chosen.values_list("name", flat=True)))
            if unknown:
                raise CommandError(f"no provider named {', '.join(unknown)}")
        failed = []
        for provider in chosen.order_by("name"):
            result = sync_provider(provider.pk, actor="system")
            if result is None:
                self.stdout.write(f"{provider.name}: a sync is already running; skipped")
            elif result.ok:
                self.stdout.write(f"{provider.name}: {result.created} new, {result.updated} updated, "
                                  f"{result.missing} missing, {len(result.out_of_band)} changed out of band")
            else:
                failed.append(f"{provider.name}: {result.error}")
        if failed:
            raise CommandError("; ".join(failed))
