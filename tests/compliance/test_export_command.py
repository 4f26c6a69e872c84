"""`manage.py export_compliance_report`: generates a snapshot and exports it, in-process and as a real process."""
import csv
import datetime as dt
import io
import json
import subprocess

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.models import AuditEvent
from compliance.models import ComplianceReport
from tests.compliance.exports_fixtures import pdf_pages, report_period, seed_report_data, validate_oscal
from tests.conftest import BASE_DIR, MANAGE, PYTHON

COMMAND = "export_compliance_report"


@pytest.fixture
def data(role_users):
    seed_report_data(role_users)
    return role_users


def _args(framework="nist-800-53", export_format="json", **period):
    period = period or report_period()
    return ["--framework", framework, "--from", period["period_start"].isoformat(), "--to",
            period["period_end"].isoformat(), "--format", export_format]


def _binary_stdout():
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8")


@pytest.mark.django_db
@pytest.mark.parametrize("export_format", ["json", "csv", "oscal"])
def test_it_writes_a_text_format_to_stdout(data, export_format):
    out = _binary_stdout()
    call_command(COMMAND, *_args("soc2", export_format), stdout=out)
    content = out.buffer.getvalue()
    report = ComplianceReport.objects.get()
    assert report.status == "ready" and report.generated_by_name == "system"
    if export_format == "json":
        assert json.loads(content)["snapshot"]["digest"]["value"] == report.sha256
    elif export_format == "csv":
        rows = list(csv.DictReader(io.StringIO(content.decode("utf-8"), newline="")))
        assert rows and {row["framework"] for row in rows} == {"soc2"} and rows[0]["digest"] == report.sha256
    else:
        assert validate_oscal(content).metadata.version == report.sha256
    events = AuditEvent.objects.filter(event_type__in=("report.generated", "report.exported")).order_by("sequence")
    assert [(e.event_type, e.actor_type) for e in events] == [("report.generated", "system"),
                                                              ("report.exported", "system")]
    assert events[1].details["format"] == export_format and events[1].details["digest"] == report.sha256


@pytest.mark.django_db
def test_it_writes_the_pdf_to_a_file_as_the_given_user(data, tmp_path):
    target = tmp_path / "report.pdf"
    out = io.StringIO()
    call_command(COMMAND, *_args("hipaa", "pdf"), "--output", str(target), "--user", "dana", stdout=out)
    report = ComplianceReport.objects.get()
    assert out.getvalue().strip() == f"report {report.uuid} (pdf, sha256 {report.sha256}) written to {target}"
    pages = pdf_pages(target.read_bytes())
    assert "HIPAA" in pages[0] and report.sha256 in pages[0] and "dana" in pages[0]
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind
    assert AuditEvent.objects.get(event_type="report.exported").actor_name == "dana"


@pytest.mark.django_db
def test_a_pdf_needs_a_binary_stdout_or_a_file(data):
    with pytest.raises(CommandError, match="a PDF is binary"):
        call_command(COMMAND, *_args(export_format="pdf"), stdout=io.StringIO())
    text = io.StringIO()
    call_command(COMMAND, *_args(export_format="json"), stdout=text)
    assert json.loads(text.getvalue())["inputs"]["framework"] == "nist-800-53"


def _bad_inputs(tmp_path):
    today = timezone.localdate()
    day = dt.timedelta(days=1)
    return {
        "unknown framework": (["--framework", "pci-dss", "--from", "2026-01-01", "--to", "2026-01-31",
                               "--format", "csv"], "invalid choice: 'pci-dss'"),
        "bad date": (["--framework", "soc2", "--from", "2026-13-01", "--to", "2026-12-31", "--format", "csv"],
                     "--from '2026-13-01' is not a date (YYYY-MM-DD)"),
        "end before start": (_args(period_start=today - 3 * day, period_end=today - 5 * day),
                             "The period ends before it starts."),
        "future": (_args(period_start=today - day, period_end=today + 3 * day), "is in the future"),
        "before any data": (_args(period_start=today - 3000 * day, period_end=today - 2990 * day),
                            "before the first recorded data"),
        "unwritable output": ([*_args(), "--output", str(tmp_path / "missing" / "r.json")], "does not exist"),
        "output is a directory": ([*_args(), "--output", str(tmp_path)], "it is a directory"),
        "unknown user": ([*_args(), "--user", "nobody"], "no active user named 'nobody'"),
        "user without permission": ([*_args(), "--user", "alice"], "You may not generate compliance reports."),
        "missing format": (_args()[:-2], "the following arguments are required: --format"),
    }


CASES = sorted(_bad_inputs(BASE_DIR))


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_a_command_error(data, tmp_path, case):
    argv, message = _bad_inputs(tmp_path)[case]
    with pytest.raises(CommandError) as raised:
        call_command(COMMAND, *argv, stdout=_binary_stdout())
    assert message in str(raised.value)
    assert not ComplianceReport.objects.filter(status="ready").exists()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_process_writes_the_pdf_to_stdout(data, subprocess_env):
    finished = subprocess.run([PYTHON, MANAGE, COMMAND, *_args("iso27001", "pdf")], env=subprocess_env, cwd=BASE_DIR,
                              capture_output=True, timeout=180)
    assert finished.returncode == 0, finished.stderr.decode()
    assert finished.stdout.startswith(b"%PDF-") and finished.stdout.rstrip().endswith(b"%%EOF")
    report = ComplianceReport.objects.get()
    pages = pdf_pages(finished.stdout)
    assert "ISO/IEC 27001" in pages[0] and report.sha256 in pages[0]
    assert f"Page {len(pages)} of {len(pages)}" in pages[-1]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", CASES)
def test_a_real_process_refuses_bad_input_with_one_line(data, subprocess_env, tmp_path, case):
    argv, message = _bad_inputs(tmp_path)[case]
    finished = subprocess.run([PYTHON, MANAGE, COMMAND, *argv], env=subprocess_env, cwd=BASE_DIR,
                              capture_output=True, text=True, timeout=180)
    assert finished.returncode != 0
    assert "Traceback" not in finished.stderr
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], finished.stderr
    assert finished.stdout == ""
