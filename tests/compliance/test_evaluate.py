"""build_report: the document's shape and determinism, control status aggregation, thresholds and the period."""
import dataclasses
import datetime as dt
import json

import pytest
from django.conf import settings
from django.test import override_settings

from compliance.catalog import FRAMEWORK_SLUGS, UnknownFramework, catalog
from compliance.evaluate import (
    SCHEMA,
    PeriodError,
    build_control,
    build_report,
    build_reports,
    check_period,
    control_status,
)
from compliance.thresholds import DEFAULT_THRESHOLDS, ThresholdError
from secretsadmin.config import ConfigError, load_config
from tests.compliance.conftest import default_period


def report(slug="nist-800-53", **kwargs):
    start, end = default_period()
    return build_report(slug, period_start=start, period_end=end, **kwargs)


@pytest.mark.parametrize(("statuses", "expected"), [
    (["pass", "pass"], "pass"),
    (["pass", "partial"], "partial"),
    (["partial", "fail", "pass"], "fail"),
    (["not_applicable", "pass"], "pass"),
    (["not_applicable", "partial", "not_applicable"], "partial"),
    (["not_applicable", "not_applicable"], "not_applicable"),
])
def test_a_control_takes_the_worst_status_of_its_checks(statuses, expected):
    assert control_status(statuses) == expected


def _json_types_only(value):
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_types_only(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_json_types_only(v) for v in value)
    return value is None or isinstance(value, str | int | float | bool)


@pytest.mark.parametrize("slug", FRAMEWORK_SLUGS)
def test_every_framework_renders_with_statuses_computed_from_data(slug, scenario):
    scenario("rotation_within_interval", "partial")
    document = report(slug)
    framework = catalog()[slug]
    assert document["schema"] == SCHEMA
    assert document["framework"]["slug"] == slug and document["framework"]["catalog_version"] == "2026.11.2"
    assert [c["id"] for c in document["controls"]] == [c.id for c in framework.controls]
    assert set(document["checks"]) == set(framework.check_slugs()) == set(document["thresholds"])
    for control in document["controls"]:
        assert control["status"] == control_status([document["checks"][s]["status"] for s in control["checks"]])
        assert control["summary"]
    summary = document["summary"]
    assert summary["total"] == len(framework.controls)
    assert sum(summary[s] for s in ("pass", "partial", "fail", "not_applicable")) == summary["total"]
    assert _json_types_only(document)
    json.dumps(document, allow_nan=False)
    if "rotation_within_interval" in document["checks"]:
        assert document["checks"]["rotation_within_interval"]["status"] == "partial"


def test_a_failing_check_fails_every_control_it_evidences_in_every_framework(scenario):
    scenario("provider_tls", "fail")
    for slug, document in build_reports(FRAMEWORK_SLUGS, period_start=default_period()[0],
                                        period_end=default_period()[1]).items():
        using = [c for c in document["controls"] if "provider_tls" in c["checks"]]
        assert using, slug
        assert all(c["status"] == "fail" for c in using), slug
        assert all(c["summary"].startswith("Providers reached over TLS:") for c in using), slug


def test_the_document_is_deterministic(scenario):
    scenario("audit_coverage", "fail")
    scenario("emergency_reviews", "partial")
    first, second = report("soc2"), report("soc2")
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_build_reports_matches_one_report_per_framework(scenario):
    scenario("separation_of_duties", "partial")
    start, end = default_period()
    together = build_reports(FRAMEWORK_SLUGS, period_start=start, period_end=end)
    assert together["hipaa"] == report("hipaa") and together["iso27001"] == report("iso27001")


def test_build_control_runs_only_the_control_s_checks(scenario):
    scenario("access_review_recent", "partial")
    start, end = default_period()
    one = build_control("nist-800-53", "AC-2", period_start=start, period_end=end)
    full = report("nist-800-53")
    assert one["control"] == full["controls"][0]
    assert list(one["checks"]) == ["access_review_recent", "dormant_accounts", "access_privileged_holders"]
    assert one["checks"]["access_review_recent"] == full["checks"]["access_review_recent"]


def test_progress_is_reported_after_each_check(db):
    calls = []
    document = report("soc2", progress=lambda done, total: calls.append((done, total)))
    total = len(document["checks"])
    assert calls == [(n, total) for n in range(1, total + 1)]


def test_the_thresholds_used_are_in_the_document_and_change_the_outcome(scenario):
    scenario("rotation_within_interval", "partial")  # 90% within the interval
    assert report()["checks"]["rotation_within_interval"]["status"] == "partial"
    lenient = report(thresholds={"rotation_within_interval": {"pass_percent": 90}})
    assert lenient["thresholds"]["rotation_within_interval"] == {"pass_percent": 90.0, "partial_percent": 80.0}
    assert lenient["checks"]["rotation_within_interval"]["status"] == "pass"
    assert "at least 90.0%" in lenient["checks"]["rotation_within_interval"]["rule"]


def test_the_organisation_s_configured_thresholds_apply(scenario):
    scenario("rotation_within_interval", "partial")
    configured = dataclasses.replace(settings.CONFIG, compliance={
        "organisation": "Example Corp", "thresholds": {"rotation_within_interval": {"partial_percent": 95.0}}})
    with override_settings(CONFIG=configured):
        document = report()
    assert document["organisation"] == "Example Corp"
    assert document["checks"]["rotation_within_interval"]["status"] == "fail"
    assert report(organisation="Other Ltd")["organisation"] == "Other Ltd"


@pytest.mark.parametrize(("overrides", "message"), [
    ({"no_such_check": {}}, "unknown check no_such_check"),
    ({"audit_retention": {"min_years": 6}}, "unknown threshold min_years"),
    ({"audit_retention": {"min_days": "a year"}}, "must be a number"),
    ({"audit_retention": {"min_days": 36.5}}, "must be a whole number"),
    ({"provider_encryption_at_rest": {"require_customer_managed_keys": 1}}, "true or false"),
])
def test_bad_threshold_overrides_are_refused(overrides, message, db):
    with pytest.raises(ThresholdError, match=message):
        report(thresholds=overrides)


def test_an_unknown_framework_is_refused(db):
    with pytest.raises(UnknownFramework):
        report("pci-dss")


@pytest.mark.parametrize(("start", "end"), [
    (dt.date(2026, 10, 31), dt.date(2026, 10, 1)),
    (dt.datetime(2026, 10, 1, 12, 0), dt.date(2026, 10, 31)),
    ("2026-10-01", dt.date(2026, 10, 31)),
])
def test_a_bad_period_is_refused(start, end, db):
    with pytest.raises(PeriodError):
        build_report("soc2", period_start=start, period_end=end)


def test_check_period_names_each_problem(evidence):
    evidence.login(evidence.user(), days=10)
    today = dt.date.today()
    assert check_period(today - dt.timedelta(days=5), today, today=today) == {}
    assert set(check_period(today, today - dt.timedelta(days=1), today=today)) == {"end"}
    assert "future" in check_period(today, today + dt.timedelta(days=1), today=today)["end"]
    assert "first recorded data" in check_period(today - dt.timedelta(days=30), today, today=today)["start"]


def test_the_compliance_table_is_read_from_the_configuration(tmp_path):
    (tmp_path / "config").mkdir()
    base = '[django]\nsecret_key = "dev-secret"\n[database]\nurl = "sqlite:///var/db.sqlite3"\n'
    (tmp_path / "config" / "development.toml").write_text(
        base + '[compliance]\norganisation = "Example Corp"\n'
        '[compliance.thresholds.access_review_recent]\nmax_age_days = 30\n')
    config = load_config("development", environ={}, base_dir=tmp_path)
    assert config.compliance == {"organisation": "Example Corp",
                                 "thresholds": {"access_review_recent": {"max_age_days": 30}}}


@pytest.mark.parametrize(("table", "message"), [
    ('[compliance]\norgansation = "typo"\n', "unknown key organsation"),
    ("[compliance.thresholds.audit_retention]\nmin_years = 6\n", "unknown threshold min_years"),
    ("[compliance.thresholds.audit_retension]\nmin_days = 6\n", "unknown check audit_retension"),
    ("[compliance]\norganisation = 3\n", "organisation must be a string"),
])
def test_a_bad_compliance_table_stops_start_up(tmp_path, table, message):
    (tmp_path / "config").mkdir()
    base = '[django]\nsecret_key = "dev-secret"\n[database]\nurl = "sqlite:///var/db.sqlite3"\n'
    (tmp_path / "config" / "development.toml").write_text(base + table)
    with pytest.raises(ConfigError, match=message):
        load_config("development", environ={}, base_dir=tmp_path)


def test_every_check_has_default_thresholds_its_rule_can_show():
    from compliance.checks import CHECKS

    assert set(CHECKS) == set(DEFAULT_THRESHOLDS)
    for slug, check in CHECKS.items():
        assert "{" not in check.rule_text(DEFAULT_THRESHOLDS[slug]), slug
