"""`manage.py archive_audit --through N --output FILE`: export the oldest events, verify the export, prune them."""
from django.core.management.base import BaseCommand, CommandError

from audit.retention import ArchiveError, archive_and_prune


class Command(BaseCommand):
    help = "Archive audit events up to a sequence number to a JSON-lines file, then prune them (audited)."

    def add_arguments(self, parser):
        parser.add_argument("--through", type=int, required=True, help="last sequence number to archive")
        parser.add_argument("--output", required=True, help="archive file to create (never overwritten)")

    def handle(self, *args, through, output, **options):
        try:
            checkpoint = archive_and_prune(through_sequence=through, output=output, actor="system")
        except (ArchiveError, OSError) as exc:
            raise CommandError(str(exc)) from None
        details = checkpoint["details"]
        self.stdout.write(
            f"archived #{details['first_sequence']}..#{details['last_sequence']} ({details['count']} events) "
            f"to {output}; checkpoint #{checkpoint['sequence']}"
        )
