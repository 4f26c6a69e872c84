"""`manage.py verify_audit_chain [--file PATH]`: check the audit hash chain; exit 1 at the first broken link."""
import json

from django.core.management.base import BaseCommand, CommandError

from audit.services import verify_audit_chain, verify_json_lines_file


class Command(BaseCommand):
    help = "Verify the audit hash chain (the database, or a JSON-lines file) and report the first broken link."

    def add_arguments(self, parser):
        parser.add_argument("--file", help="verify a JSON-lines audit file or archive instead of the database")

    def handle(self, *args, file=None, **options):
        if file:
            try:
                result = verify_json_lines_file(file)
            except (OSError, json.JSONDecodeError, KeyError) as exc:
                raise CommandError(f"cannot read audit file {file}: {type(exc).__name__}") from None
        else:
            result = verify_audit_chain(actor="system")
        if not result.ok:
            raise CommandError(result.summary())
        self.stdout.write(f"{result.summary()} ({result.duration_seconds:.1f} s)")
