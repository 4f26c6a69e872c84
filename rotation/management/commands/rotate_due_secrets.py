"""`manage.py rotate_due_secrets`: request rotations of every secret past its policy's interval (the nightly cron)."""
from django.core.management.base import BaseCommand

from rotation.engine import run_rotation
from rotation.models import RotationRequest
from rotation.schedule import rotate_due_secrets


class Command(BaseCommand):
    help = ("Create rotation requests for secrets past their policy's interval (one open request per secret); "
            "auto-approving policies queue the run for the workers at once.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="list what is due; change nothing")
        parser.add_argument("--limit", type=int, default=None, help="create at most this many requests")
        parser.add_argument("--run-now", action="store_true",
                            help="carry out auto-approved runs in this process instead of waiting for a worker")

    def handle(self, *args, dry_run, limit, run_now, **options):
        result = rotate_due_secrets(dry_run=dry_run, limit=limit)
        for secret, rotation in result.requested:
            if dry_run:
                self.stdout.write(f"due: {secret} (policy {rotation.policy})")
                continue
            state = rotation.state
            if run_now and state == RotationRequest.State.QUEUED:
                state = run_rotation(rotation.pk)
            self.stdout.write(f"{secret}: {rotation.get_trigger_display().lower()} request {rotation.uuid} -> {state}")
        summary = result.summary()
        self.stdout.write(f"{summary['requested']} due, {summary['auto_approved']} auto-approved, "
                          f"{summary['skipped']} skipped" + (" (dry run)" if dry_run else ""))
