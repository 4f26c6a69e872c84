"""A report document built by hand (the build_report contract) for the exporters' unit tests, and helpers."""
import io

from compliance.exports import FrozenSnapshot, canonical_json


def sample_document(*, overdue_rows=3, truncated=False, framework="nist-800-53"):
    """Three controls, three checks: pass, partial with a drill-down, fail; one control not applicable."""
    rows = [["aws-prod", f"db/password-{i:04d}", "2026-01-02", 90] for i in range(overdue_rows)]
    return {
        "schema": "secretsadmin.compliance-report/1",
        "framework": {"slug": framework, "name": "NIST SP 800-53", "version": "Rev. 5", "catalog_version": "2026.11.1",
                      "edition": None},
        "organisation": "Example Corp",
        "period": {"start": "2026-10-01", "end": "2026-10-31"},
        "thresholds": {"rotation_within_interval": {"pass_percent": 95, "partial_percent": 80}},
        "summary": {"pass": 1, "partial": 1, "fail": 1, "not_applicable": 1, "total": 4},
        "controls": [
            {"id": "AC-2", "title": "Account Management", "status": "pass", "summary": "Access reviewed on time",
             "checks": ["access_review_recent"], "related": [{"framework": "iso27001-2013", "id": "A.9.2"}],
             "note": None},
            {"id": "IA-5", "title": "Authenticator Management", "status": "partial",
             "summary": "97 of 100 secrets rotated within their interval", "checks": ["rotation_within_interval"],
             "related": [], "note": None},
            {"id": "SC-12", "title": "Cryptographic Key Establishment and Management", "status": "fail",
             "summary": "Rotation policy coverage below threshold",
             "checks": ["rotation_within_interval", "unapproved_rotations"], "related": [],
             "note": "The policy maps this to SC-12; the framework agrees."},
            {"id": "SI-4", "title": "System Monitoring", "status": "not_applicable", "summary": "No data",
             "checks": [], "related": [], "note": None},
        ],
        "checks": {
            "access_review_recent": {
                "title": "Access reviewed within 90 days", "rule": "pass when the last review is within 90 days",
                "status": "pass", "summary": "Last review 2026-10-12", "figures": {"days_since": 19},
                "drilldown": None,
            },
            "rotation_within_interval": {
                "title": "Secrets rotated within their policy interval",
                "rule": "pass when >= 95%, partial when >= 80%, else fail; not applicable when no secrets",
                "status": "partial", "summary": "97 of 100 secrets (97.0%) rotated within their interval",
                "figures": {"total": 100, "compliant": 97, "percent": 97.0},
                "drilldown": {"title": "Overdue secrets", "columns": ["Provider", "Secret", "Last rotated",
                                                                      "Interval (days)"],
                              "rows": rows, "total": overdue_rows + (5 if truncated else 0), "truncated": truncated},
            },
            "unapproved_rotations": {
                "title": "Rotations executed without the required approvals",
                "rule": "pass when zero, else fail", "status": "fail",
                "summary": "=HYPERLINK(\"http://evil.invalid\") 2 rotations ran without approval",
                "figures": {"count": 2, "delta": -2},
                "drilldown": {"title": "Unapproved runs", "columns": ["Secret", "Requested by"],
                              "rows": [["+cmd|' /C calc'!A0", "bob"], ["-2+3", "café ☃"]], "total": 2,
                              "truncated": False},
            },
        },
    }


def frozen(document=None, **overrides):
    document = document or sample_document()
    values = {
        "uuid": "3f1c2b7e-8a45-4c2d-9e0f-1a2b3c4d5e6f",
        "digest": "ab" * 32,
        "generated": {"at": "2026-11-02T09:30:00Z", "by": "dana"},
        "inputs": {"framework": document["framework"]["slug"], "period": document["period"],
                   "thresholds": document["thresholds"], "organisation": document["organisation"],
                   "catalog_version": document["framework"]["catalog_version"]},
        "results": document,
    }
    values.update(overrides)
    return FrozenSnapshot(**values)


def digest_of(content) -> str:
    import hashlib

    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def pdf_pages(content: bytes):
    """The text of each page of a PDF, read with pypdf."""
    from pypdf import PdfReader

    return [page.extract_text() for page in PdfReader(io.BytesIO(content)).pages]


def pdf_metadata(content: bytes):
    from pypdf import PdfReader

    return PdfReader(io.BytesIO(content)).metadata


def validate_oscal(content: bytes):
    """Parse an OSCAL assessment-results JSON document with compliance-trestle's models (raises if invalid)."""
    import json

    from trestle.oscal.assessment_results import Model

    return Model.model_validate(json.loads(content)).assessment_results


# ---------------------------------------------------------------- real data for end-to-end tests


def report_period(days=30):
    """The last `days` days up to today: after the seeded data starts, never in the future."""
    import datetime as dt

    from django.utils import timezone

    today = timezone.localdate()
    return {"period_start": today - dt.timedelta(days=days), "period_end": today}


def seed_report_data(users):
    """A small real data set (providers, secrets, a policy, an approved run, audit rows, a review, a verification)
    through the core helper's Evidence builder, so that build_report has something to judge."""
    from tests.compliance.evidence import Evidence

    evidence = Evidence()
    provider = evidence.provider("aws-prod")
    evidence.policy("monthly", interval_days=30, provider=provider)
    fresh, _overdue, _never = (evidence.secret(provider, "db/password", rotated=5),
                               evidence.secret(provider, "api/key", rotated=45),
                               evidence.secret(provider, "legacy/token"))
    run = evidence.run(fresh, requester=users["bob"], approvers=[users["charlie"]])
    evidence.run_events(run)
    evidence.login(users["dana"])
    evidence.access_review(users["dana"])
    evidence.verification()
    return evidence


def run_reports_queue():
    """Work the reports queue until it is empty, in this process (RQ's SimpleWorker in burst mode)."""
    import django_rq
    from rq import SimpleWorker

    queue = django_rq.get_queue("reports")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
