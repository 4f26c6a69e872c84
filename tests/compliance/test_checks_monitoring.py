"""Monitoring evidence: alert rules, rotation failures resolved, out-of-band changes followed up."""
import pytest
from django.test import override_settings

from rotation.models import RotationRequest
from tests.compliance.conftest import scenarios_for


@pytest.mark.parametrize(("slug", "status"), scenarios_for("monitoring"))
def test_each_data_set_gives_its_status(slug, status, scenario, run_check):
    assert run_check(slug, scenario(slug, status))["status"] == status


def test_the_shipped_rules_define_every_expected_alert(run_check, db):
    outcome = run_check("alert_rules_deployed")
    assert outcome["figures"]["present"] == outcome["figures"]["expected"] == 7
    assert ["AuditChainBroken", "defined"] in outcome["drilldown"]["rows"]
    assert ["RQNoWorkers", "defined (not required)"] in outcome["drilldown"]["rows"]


def test_a_missing_rules_file_fails(run_check, db, tmp_path):
    with override_settings(COMPLIANCE_ALERT_RULES_FILE=tmp_path / "absent.yml"):
        outcome = run_check("alert_rules_deployed")
    assert outcome["status"] == "fail" and outcome["figures"]["file_found"] is False


def test_a_rules_file_elsewhere_is_read(run_check, db, tmp_path):
    rules = tmp_path / "rules.yml"
    rules.write_text("groups:\n  - name: x\n    rules:\n      - alert: SecretRotationFailure\n        expr: up == 0\n")
    with override_settings(COMPLIANCE_ALERT_RULES_FILE=rules):
        outcome = run_check("alert_rules_deployed")
    assert outcome["status"] == "partial" and outcome["figures"]["present"] == 1


@pytest.mark.parametrize("slug", ["rotation_failures_resolved", "drift_investigated"])
def test_nothing_happened_is_not_applicable(slug, run_check, db):
    assert run_check(slug)["status"] == "not_applicable"


def test_a_run_that_failed_again_after_its_retry_is_unresolved(evidence, run_check):
    approver = evidence.user("pedro")
    run = evidence.run(evidence.secret(evidence.provider("aws-prod"), "db/main"), requester=evidence.user(),
                       state=RotationRequest.State.NEEDS_ATTENTION, created=12, started=11)
    for days in (10, 5):
        evidence.event("rotation.needs_attention", actor="worker", target=run, secret=run.secret,
                       outcome="failure", failure_reason="NetworkError", days=days)
    evidence.event("rotation.retried", actor=approver, target=run, secret=run.secret, days=9)
    outcome = run_check("rotation_failures_resolved")
    assert outcome["figures"] == {"runs": 1, "unresolved": 1, "overdue": 1}
    (row,) = outcome["drilldown"]["rows"]
    assert row[1:] == ["aws-prod", "db/main", str(run.uuid), "NetworkError"]


def test_a_failed_rotation_event_does_not_resolve_a_run(evidence, run_check):
    run = evidence.run(evidence.secret(evidence.provider()), requester=evidence.user(),
                       state=RotationRequest.State.NEEDS_ATTENTION, created=5, started=4)
    evidence.event("rotation.needs_attention", actor="worker", target=run, secret=run.secret, outcome="failure",
                   days=3)
    evidence.event("secret.rotation", actor="worker", target=run, secret=run.secret, outcome="failure", days=3)
    assert run_check("rotation_failures_resolved")["figures"]["overdue"] == 1


def test_a_completed_rotation_resolves_a_run(evidence, run_check):
    run = evidence.run(evidence.secret(evidence.provider()), requester=evidence.user(), created=5, started=4)
    evidence.event("rotation.needs_attention", actor="worker", target=run, secret=run.secret, outcome="failure",
                   days=3)
    evidence.event("secret.rotation", actor="worker", target=run, secret=run.secret, days=2)
    assert run_check("rotation_failures_resolved")["status"] == "pass"


def test_drift_lists_the_changes_not_followed_up(evidence, run_check):
    provider = evidence.provider("vault-main")
    followed, open_ = evidence.secret(provider, "app/a"), evidence.secret(provider, "app/b")
    for secret in (followed, open_):
        evidence.event("secret.changed_out_of_band", actor="worker", secret=secret, days=3,
                       details={"previous_version": "4", "current_version": "5"})
    evidence.run(followed, requester=evidence.user(), state=RotationRequest.State.PENDING_APPROVAL, created=2,
                 started=None)
    outcome = run_check("drift_investigated")
    assert outcome["figures"] == {"changes": 2, "investigated": 1, "overdue": 0}
    (row,) = outcome["drilldown"]["rows"]
    assert row[1:] == ["vault-main", "app/b", "5"]


def test_a_rotation_before_the_change_does_not_follow_it_up(evidence, run_check):
    secret = evidence.secret(evidence.provider())
    evidence.run(secret, requester=evidence.user(), created=20, started=19)
    evidence.event("secret.changed_out_of_band", actor="worker", secret=secret, days=10)
    assert run_check("drift_investigated")["status"] == "fail"


def test_failed_runs_are_counted_once_each_and_every_open_alert_is_listed(evidence, run_check):
    provider = evidence.provider("aws-prod")

    def failed_run(name, *alert_days, resolved=None):
        run = evidence.run(evidence.secret(provider, name), requester=evidence.user(),
                           state=RotationRequest.State.NEEDS_ATTENTION, created=12, started=11)
        for days in alert_days:
            evidence.event("rotation.needs_attention", actor="worker", target=run, secret=run.secret,
                           outcome="failure", failure_reason="NetworkError", days=days)
        if resolved is not None:
            evidence.event("rotation.cancelled", actor=evidence.user(), target=run, secret=run.secret, days=resolved)
        return run

    failed_run("db/resolved", 6, resolved=5)
    failed_run("db/overdue", 8, 4)  # two open alerts of one run, both older than 24 hours
    failed_run("db/recent", 0.2)
    outcome = run_check("rotation_failures_resolved")
    assert outcome["figures"] == {"runs": 3, "unresolved": 2, "overdue": 1}
    assert outcome["status"] == "fail"
    assert [row[2] for row in outcome["drilldown"]["rows"]] == ["db/overdue", "db/overdue", "db/recent"]
    assert outcome["drilldown"]["total"] == 3


def test_drift_counts_as_overdue_only_the_late_changes_not_followed_up(evidence, run_check):
    provider = evidence.provider("vault-main")
    late_followed, late_open, recent_open, recent_followed = (
        evidence.secret(provider, name) for name in ("app/a", "app/b", "app/c", "app/d"))
    for secret, days in ((late_followed, 20), (late_open, 20), (recent_open, 1), (recent_followed, 1)):
        evidence.event("secret.changed_out_of_band", actor="worker", secret=secret, days=days)
    for secret, days in ((late_followed, 19), (recent_followed, 0.5)):
        evidence.run(secret, requester=evidence.user(), state=RotationRequest.State.PENDING_APPROVAL, created=days,
                     started=None)
    outcome = run_check("drift_investigated")
    assert outcome["figures"] == {"changes": 4, "investigated": 2, "overdue": 1}
    assert outcome["status"] == "fail"
    assert [row[2] for row in outcome["drilldown"]["rows"]] == ["app/b", "app/c"]
    assert outcome["drilldown"]["total"] == 2
