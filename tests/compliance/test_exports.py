"""The exporters over a report document built by hand: JSON, CSV and PDF are deterministic and say what they must."""
import csv
import io
import json
import re

import pytest

from compliance.exports import FORMATS, canonical_json, render
from compliance.exports.json_export import SCHEMA
from tests.compliance.exports_fixtures import digest_of, frozen, pdf_metadata, pdf_pages, sample_document


def _snapshot(document=None, **overrides):
    document = document or sample_document()
    snapshot = frozen(document, **overrides)
    # A digest that really covers the content, as snapshots.generate_snapshot computes it.
    return frozen(document, **{**overrides, "digest": digest_of(snapshot.frozen_content())})


@pytest.mark.parametrize("export_format", sorted(FORMATS))
def test_every_format_renders_the_same_bytes_every_time(export_format):
    first = render(export_format, _snapshot())
    again = render(export_format, _snapshot(sample_document()))  # a fresh, equal document: no hidden state
    assert first == again and len(first) > 100


@pytest.mark.parametrize("export_format", sorted(FORMATS))
def test_every_format_changes_when_the_snapshot_does(export_format):
    changed = sample_document()
    changed["controls"][0]["status"] = "fail"
    assert render(export_format, _snapshot()) != render(export_format, _snapshot(changed))


def test_json_export_is_canonical_and_its_digest_verifies():
    snapshot = _snapshot()
    content = render("json", snapshot)
    data = json.loads(content)
    assert content == (canonical_json(data) + "\n").encode("utf-8")
    assert data["schema"] == SCHEMA
    assert data["snapshot"]["uuid"] == snapshot.uuid
    assert data["results"] == sample_document()
    assert data["inputs"]["period"] == {"start": "2026-10-01", "end": "2026-10-31"}
    # An auditor recomputes the digest from the export alone.
    recomputed = digest_of({key: data[key] for key in ("generated", "inputs", "results")})
    assert recomputed == data["snapshot"]["digest"]["value"] == snapshot.digest


def _csv_rows(content):
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"), newline="")))


def test_csv_has_one_row_per_control_and_check_with_its_figures():
    rows = _csv_rows(render("csv", _snapshot()))
    assert [(row["control_id"], row["check"]) for row in rows] == [
        ("AC-2", "access_review_recent"), ("IA-5", "rotation_within_interval"),
        ("SC-12", "rotation_within_interval"), ("SC-12", "unapproved_rotations"), ("SI-4", ""),
    ]
    overdue = rows[1]
    assert overdue["control_status"] == "partial" and overdue["check_status"] == "partial"
    assert json.loads(overdue["figures"]) == {"total": 100, "compliant": 97, "percent": 97.0}
    assert overdue["drilldown_total"] == "3"
    assert {row["period_start"] for row in rows} == {"2026-10-01"}
    assert rows[-1]["control_status"] == "not_applicable" and rows[-1]["figures"] == ""


def test_csv_cells_cannot_run_as_spreadsheet_formulas():
    content = render("csv", _snapshot())
    rows = _csv_rows(content)
    unapproved = next(row for row in rows if row["check"] == "unapproved_rotations")
    assert unapproved["check_summary"].startswith("'=HYPERLINK")
    assert json.loads(unapproved["figures"]) == {"count": 2, "delta": -2}
    for row in rows:
        assert not any(value.startswith(("=", "+", "-", "@")) for value in row.values())


def test_pdf_cover_names_organisation_framework_period_author_and_digest():
    snapshot = _snapshot()
    cover = pdf_pages(render("pdf", snapshot))[0]
    for text in ("Compliance report", "Example Corp", "NIST SP 800-53 Rev. 5", "2026-10-01 to 2026-10-31", "dana",
                 "2026-11-02 09:30:00 UTC", snapshot.uuid, snapshot.digest, "2026.11.1"):
        assert text in cover, text


def test_pdf_has_a_summary_a_section_per_control_and_numbered_pages():
    pages = pdf_pages(render("pdf", _snapshot(sample_document(overdue_rows=200))))
    total = len(pages)
    assert total > 4  # 200 drill-down rows need several pages
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} of {total}" in text
    assert "Summary" in pages[1] and "Not applicable" in pages[1]
    body = "\n".join(pages[2:])
    for heading in ("AC-2 Account Management", "IA-5 Authenticator Management",
                    "SC-12 Cryptographic Key Establishment and Management", "SI-4 System Monitoring"):
        assert heading in body
    assert "Secrets rotated within their policy interval" in body and "Overdue secrets: 200 row(s)" in body
    assert "db/password-0000" in body and "db/password-0199" in body
    # SC-12 uses the same check as IA-5: its rows are shown once and SC-12 points back to them.
    assert body.count("db/password-0199") == 1 and "shown under IA-5" in body


def test_pdf_metadata_comes_from_the_snapshot_not_the_clock():
    snapshot = _snapshot()
    metadata = pdf_metadata(render("pdf", snapshot))
    assert metadata["/CreationDate"].startswith("D:20261102093000") and metadata["/ModDate"] == metadata[
        "/CreationDate"]
    assert snapshot.digest in metadata["/Keywords"] and metadata["/Author"] == "dana"
    later = _snapshot(generated={"at": "2026-12-24T18:00:05Z", "by": "dana"})
    assert pdf_metadata(render("pdf", later))["/CreationDate"].startswith("D:20261224180005")


def test_pdf_says_when_drilldown_rows_were_cut_and_survives_odd_text():
    document = sample_document(overdue_rows=1000, truncated=True)
    document["checks"]["rotation_within_interval"]["drilldown"]["rows"][0][1] = "x" * 5000 + " snowman ☃"
    pages = pdf_pages(render("pdf", _snapshot(document)))
    body = "\n".join(pages)
    assert "Overdue secrets: 1005 row(s); the first 1000 are in the snapshot" in body
    assert "café ?" in body  # the standard fonts cannot show a snowman
    assert re.search(r"Page \d+ of \d+", pages[-1])


@pytest.mark.django_db
@pytest.mark.parametrize("framework", ["nist-800-53", "soc2", "iso27001", "hipaa"])
def test_every_frameworks_real_snapshot_exports_to_pdf_and_csv(role_users, framework):
    from compliance.snapshots import export_snapshot, generate_snapshot_now
    from tests.compliance.exports_fixtures import report_period, seed_report_data

    seed_report_data(role_users)
    report = generate_snapshot_now(framework, **report_period(), actor=role_users["dana"])
    results = json.loads(report.frozen)["results"]
    body = " ".join(" ".join(pdf_pages(export_snapshot(report, "pdf", actor="system").content)).split())
    for control in results["controls"]:
        assert f"{control['id']} {control['title']}".encode("cp1252", "replace").decode("cp1252") in body
    rows = _csv_rows(export_snapshot(report, "csv", actor="system").content)
    assert len(rows) == sum(len(control["checks"]) for control in results["controls"])
    assert {row["digest"] for row in rows} == {report.sha256}
