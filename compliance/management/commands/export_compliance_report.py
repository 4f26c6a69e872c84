"""`manage.py export_compliance_report --framework F --from D --to D --format X [--output FILE] [--user NAME]`.

For scheduled delivery: generates a snapshot here and now (no worker needed) and exports it, to FILE or to
standard output (PDF as bytes). Bad input ends with exit code != 0 and one line on standard error.
"""
import os
import re
import sys
import tempfile
from datetime import date
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from compliance.catalog import FRAMEWORK_SLUGS
from compliance.exports import FORMATS
from compliance.snapshots import SnapshotRefused, export_snapshot, generate_snapshot_now

DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _date(value, option):
    try:
        if not DATE.fullmatch(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option} {value!r} is not a date (YYYY-MM-DD)") from None


def _writable_target(output):
    """Refuse, before any work, an output that could not be written."""
    path = Path(output)
    if path.is_dir():
        raise CommandError(f"cannot write {output}: it is a directory")
    if not path.parent.is_dir():
        raise CommandError(f"cannot write {output}: directory {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise CommandError(f"cannot write {output}: permission denied")
    return path


def _write_file(path, content):
    # Into a temporary file beside it, then renamed: a reader never sees half a report.
    try:
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
        os.replace(temporary, path)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None


class Command(BaseCommand):
    help = "Generate a compliance report snapshot and export it (PDF, CSV, JSON or OSCAL); audited."

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        command_line_error = parser.error

        def error(message):
            # One line instead of argparse's usage block; call_command still gets a CommandError.
            if not parser.called_from_command_line:
                return command_line_error(message)
            sys.stderr.write(f"{subcommand}: error: {message} (see --help)\n")
            sys.exit(2)

        parser.error = error
        return parser

    def add_arguments(self, parser):
        parser.add_argument("--framework", required=True, choices=FRAMEWORK_SLUGS)
        parser.add_argument("--from", dest="period_start", required=True, metavar="YYYY-MM-DD",
                            help="first day of the period")
        parser.add_argument("--to", dest="period_end", required=True, metavar="YYYY-MM-DD",
                            help="last day of the period")
        parser.add_argument("--format", dest="export_format", required=True, choices=tuple(FORMATS))
        parser.add_argument("--output", help="file to write (default: standard output)")
        parser.add_argument("--user", help="generate and export as this user (default: the system actor)")

    def handle(self, *args, framework, period_start, period_end, export_format, output=None, user=None, **options):
        start, end = _date(period_start, "--from"), _date(period_end, "--to")
        target = _writable_target(output) if output else None
        actor = self._actor(user)
        try:
            report = generate_snapshot_now(framework, period_start=start, period_end=end, actor=actor)
            export = export_snapshot(report, export_format, actor=actor)
        except SnapshotRefused as exc:
            raise CommandError(" ".join(str(exc).split())) from None
        if target is not None:
            _write_file(target, export.content)
            self.stdout.write(f"report {report.uuid} ({export_format}, sha256 {report.sha256}) written to {target}")
            return
        self._to_stdout(export.content, export_format)

    def _actor(self, username):
        if not username:
            return "system"
        user = get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: username}, is_active=True).first()
        if user is None:
            raise CommandError(f"no active user named {username!r}")
        return user

    def _to_stdout(self, content, export_format):
        binary = getattr(self.stdout._out, "buffer", None)
        if binary is not None:
            self.stdout.flush()
            binary.write(content)
            binary.flush()
        elif export_format == "pdf":
            raise CommandError("a PDF is binary: give --output FILE, or run it with a binary standard output")
        else:
            self.stdout.write(content.decode("utf-8"), ending="")
