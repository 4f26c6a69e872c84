"""Audit exports: CSV and JSON lines, streamed, filtered like the list, safe in spreadsheets, and themselves audited."""
import csv
import io
import json
import re

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit import export
from audit.models import AuditEvent
from audit.recorder import record
from audit.storage import DatabaseStorage, record_as_json
from audit.verify import verify_records

pytestmark = pytest.mark.django_db
CSV_URL, JSONL_URL = reverse("audit:export_csv"), reverse("audit:export_jsonl")


@pytest.fixture
def auditor(client, role_users):
    client.force_login(role_users["dana"])
    return client


def body_of(response):
    return b"".join(response.streaming_content).decode("utf-8")


def csv_rows(response):
    return list(csv.DictReader(io.StringIO(body_of(response))))


def test_csv_export_has_the_header_and_one_row_per_event(auditor):
    record("secret.retrieval", actor="system", provider="aws", secret_name="app/db", details={"b": 2, "a": [1]})
    response = auditor.get(CSV_URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = body_of(response)
    assert text.splitlines()[0] == ",".join(export.CSV_COLUMNS)
    rows = list(csv.DictReader(io.StringIO(text)))
    # The sign-in of the test, the retrieval, and the export itself (recorded before the rows were read).
    assert [row["event_type"] for row in rows] == ["auth.login", "secret.retrieval", "audit.exported"]
    retrieval = rows[1]
    stored = AuditEvent.objects.get(event_type="secret.retrieval")
    assert retrieval["sequence"] == str(stored.sequence) and retrieval["uuid"] == str(stored.uuid)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", retrieval["timestamp"])
    assert retrieval["details"] == '{"a":[1],"b":2}'
    assert (retrieval["provider"], retrieval["secret_name"], retrieval["actor_type"]) == ("aws", "app/db", "system")
    assert (retrieval["prev_hash"], retrieval["hash"]) == (stored.prev_hash, stored.hash)


def test_csv_export_is_an_attachment_named_by_the_time(auditor):
    response = auditor.get(CSV_URL)
    assert re.fullmatch(r'attachment; filename="audit-\d{8}T\d{6}Z\.csv"', response["Content-Disposition"])
    jsonl = auditor.get(JSONL_URL)
    assert re.fullmatch(r'attachment; filename="audit-\d{8}T\d{6}Z\.jsonl"', jsonl["Content-Disposition"])


def test_csv_export_neutralises_spreadsheet_formulas(auditor):
    record("secret.retrieval", actor="system", secret_name="=HYPERLINK(\"http://evil.example\",\"x\")",
           failure_reason="+cmd|' /C calc'!A0", provider="@SUM(1+1)",
           target=("providers.secret", "-2", "\tindented"), details={"k": "=1+1"})
    row = next(r for r in csv_rows(auditor.get(CSV_URL)) if r["event_type"] == "secret.retrieval")
    assert row["secret_name"] == "'=HYPERLINK(\"http://evil.example\",\"x\")"
    assert row["failure_reason"] == "'+cmd|' /C calc'!A0"
    assert row["provider"] == "'@SUM(1+1)"
    assert row["target_id"] == "'-2"
    assert row["target_text"] == "'\tindented"
    assert row["details"] == '{"k":"=1+1"}'  # starts with "{": nothing for a spreadsheet to run


def test_export_applies_the_filters_and_records_them(auditor, role_users):
    record("secret.retrieval", actor="system", secret_name="app/one")
    record("rotation.requested", actor=role_users["bob"], secret_name="app/two")
    response = auditor.get(CSV_URL, {"event_type": "rotation.requested", "since": "2000-01-02", "actor": "", "q": ""})
    exported = AuditEvent.objects.filter(event_type="audit.exported").get()
    # Recorded before a single row was streamed.
    assert exported.actor_name == "dana" and exported.actor_id == role_users["dana"].pk
    assert exported.details == {
        "format": "csv",
        "filters": {"event_type": "rotation.requested", "since": "2000-01-02T00:00:00.000000Z"},
    }
    assert [row["secret_name"] for row in csv_rows(response)] == ["app/two"]


def test_jsonl_export_records_its_format(auditor):
    body_of(auditor.get(JSONL_URL, {"outcome": "failure"}))
    assert AuditEvent.objects.get(event_type="audit.exported").details == {
        "format": "jsonl", "filters": {"outcome": "failure"},
    }


def test_full_jsonl_export_verifies_as_a_chain(auditor, role_users):
    for i in range(7):
        record("secret.retrieval", actor=role_users["dana"], secret_name=f"app/s-{i}", details={"i": i, "ü": "ß"})
    response = auditor.get(JSONL_URL)
    assert response["Content-Type"].startswith("application/x-ndjson")
    lines = body_of(response).splitlines()
    assert len(lines) == AuditEvent.objects.count() == 9  # sign-in, 7 retrievals, the export
    result = verify_records(json.loads(line) for line in lines)
    assert result.ok, result.message
    assert result.events_checked == 9
    assert json.loads(lines[-1])["event_type"] == "audit.exported"


def test_jsonl_lines_have_the_shape_of_the_json_lines_storage(auditor):
    record("secret.retrieval", actor="system", secret_name="app/db", details={"nested": {"x": [1, None]}})
    event = AuditEvent.objects.get(event_type="secret.retrieval")
    line = next(line for line in body_of(auditor.get(JSONL_URL)).splitlines() if '"secret.retrieval"' in line)
    assert line == record_as_json({**event.hashed_fields(), "prev_hash": event.prev_hash, "hash": event.hash})


def test_full_jsonl_export_verifies_with_the_management_command(auditor, tmp_path):
    for i in range(3):
        record("secret.retrieval", actor="system", secret_name=f"app/s-{i}")
    path = tmp_path / "audit.jsonl"
    path.write_text(body_of(auditor.get(JSONL_URL)), encoding="utf-8")
    out = io.StringIO()
    call_command("verify_audit_chain", "--file", str(path), stdout=out)
    assert out.getvalue().startswith("OK: 5 events")


def test_administrator_may_not_export(client, role_users):
    client.force_login(role_users["erin"])
    assert client.get(CSV_URL).status_code == 403
    assert client.get(JSONL_URL).status_code == 403
    assert not AuditEvent.objects.filter(event_type="audit.exported").exists()


@pytest.mark.parametrize("params", [{"since": "soon"}, {"event_type": "secret.stolen"}, {"until": "2024-02-30"}])
def test_an_invalid_filter_is_a_400_with_a_one_line_message(auditor, params):
    response = auditor.get(CSV_URL, params)
    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    text = response.content.decode()
    assert text.startswith("Invalid filter: ") and text.count("\n") == 1 and text.endswith("\n")
    assert next(iter(params)) in text
    assert not AuditEvent.objects.filter(event_type="audit.exported").exists()


def test_export_rejects_post(auditor):
    assert auditor.post(CSV_URL).status_code == 405
    assert not AuditEvent.objects.filter(event_type="audit.exported").exists()


def test_generators_stream_in_chunks_without_counting(monkeypatch):
    for i in range(5):
        record("secret.retrieval", actor="system", secret_name=f"app/s-{i}")
    monkeypatch.setattr(export, "ROWS_PER_CHUNK", 2)
    queryset = AuditEvent.objects.order_by("sequence")
    with CaptureQueriesContext(connection) as captured:
        csv_chunks = list(export.csv_lines(queryset))
        jsonl_chunks = list(export.jsonl_lines(queryset))
    assert not any("COUNT(" in query["sql"].upper() for query in captured)
    assert len(captured) == 2  # one streamed query per export
    assert len(csv_chunks) == 3 and all(isinstance(chunk, str) for chunk in csv_chunks)
    assert csv_chunks[0].startswith("sequence,uuid,timestamp,")
    assert [len(chunk.splitlines()) for chunk in jsonl_chunks] == [2, 2, 1]


def test_csv_of_no_events_is_just_the_header():
    assert "".join(export.csv_lines(AuditEvent.objects.none())) == ",".join(export.CSV_COLUMNS) + "\r\n"
    assert list(export.jsonl_lines(AuditEvent.objects.none())) == []


def test_export_is_not_started_when_it_cannot_be_put_on_record(auditor, settings, monkeypatch):
    def unavailable(self, fields):
        raise OperationalError("server closed the connection unexpectedly")

    settings.AUDIT_FAIL_CLOSED = True
    monkeypatch.setattr(DatabaseStorage, "append", unavailable)
    response = auditor.get(CSV_URL)
    assert response.status_code == 503
    assert not response.streaming
    assert "export was not started" in response.content.decode()
