"""Rotation evidence: rotated within the interval, policy coverage, generator strength."""
import datetime as dt

import pytest

from providers.models import Secret
from rotation.models import RotationRequest
from tests.compliance.conftest import scenarios_for


@pytest.mark.parametrize(("slug", "status"), scenarios_for("rotation"))
def test_each_data_set_gives_its_status(slug, status, scenario, run_check):
    assert run_check(slug, scenario(slug, status))["status"] == status


def test_an_empty_inventory_is_not_applicable(run_check, evidence):
    evidence.secret(evidence.provider(), status=Secret.Status.MISSING, rotated=300)
    for slug in ("rotation_within_interval", "rotation_policy_coverage"):
        assert run_check(slug)["status"] == "not_applicable"


def test_it_lists_the_overdue_secrets_with_their_policy(evidence, run_check):
    provider = evidence.provider("aws-prod")
    evidence.policy("monthly", interval_days=30, provider=provider)
    evidence.secret(provider, "db/ok", rotated=10)
    evidence.secret(provider, "db/late", rotated=100)
    evidence.secret(evidence.provider("vault-main"), "never/rotated", seen=400)  # the default 90 days applies
    outcome = run_check("rotation_within_interval")
    assert outcome["figures"] == {"total": 3, "compliant": 1, "overdue": 2, "percent": 33.3, "without_policy": 1,
                                  "default_interval_days": 90}
    rows = outcome["drilldown"]["rows"]
    assert [row[:3] for row in rows] == [["vault-main", "never/rotated", "(default interval)"],
                                         ["aws-prod", "db/late", "monthly"]]
    assert rows[1][4] == 30 and 69 <= rows[1][5] <= 71  # interval, days overdue at the end of the period
    assert outcome["drilldown"]["total"] == 2 and not outcome["drilldown"]["truncated"]


def test_a_secret_s_own_policy_wins_over_a_rule(evidence, run_check):
    provider = evidence.provider()
    evidence.policy(interval_days=30, provider=provider)
    secret = evidence.secret(provider, rotated=60)
    evidence.policy("yearly", interval_days=365, secret=secret)
    assert run_check("rotation_within_interval")["figures"]["overdue"] == 0


def test_it_judges_rotation_as_of_the_period_end(evidence, run_check, period):
    """A rotation after the period does not count; the last run before its end does."""
    provider = evidence.provider()
    evidence.policy(interval_days=30, provider=provider)
    secret = evidence.secret(provider, rotated=1)
    end = period[1] - dt.timedelta(days=20)
    start = end - dt.timedelta(days=5)
    assert run_check("rotation_within_interval", start=start, end=end)["figures"]["overdue"] == 1
    evidence.run(secret, requester=evidence.user(), created=41, started=40.5, promoted=40)
    assert run_check("rotation_within_interval", start=start, end=end)["figures"]["overdue"] == 0
    assert RotationRequest.objects.get().state == RotationRequest.State.SUCCEEDED


def test_policy_coverage_lists_the_ungoverned_secrets(evidence, run_check):
    governed = evidence.provider()
    evidence.policy(provider=governed)
    evidence.secret(governed, rotated=1)
    evidence.secret(evidence.provider("gcp-main"), "api/key", rotated=1, environment="prod", owner="payments")
    outcome = run_check("rotation_policy_coverage")
    assert outcome["figures"] == {"total": 2, "governed": 1, "without_policy": 1, "percent": 50.0}
    assert outcome["drilldown"]["rows"][0][:4] == ["gcp-main", "api/key", "prod", "payments"]


def test_the_drilldown_stops_at_1000_rows_and_counts_them_all(evidence, run_check):
    provider = evidence.provider()
    Secret.objects.bulk_create([Secret(provider=provider, name=f"bulk/{i:04d}") for i in range(1005)])
    Secret.objects.update(first_seen_at=evidence.secret(provider, seen=400).first_seen_at)
    drill = run_check("rotation_within_interval")["drilldown"]
    assert drill["total"] == 1006 and drill["truncated"] is True and len(drill["rows"]) == 1000


def test_generator_strength_judges_only_policies_in_use(evidence, run_check):
    evidence.policy("unused-weak", length=16, use_uppercase=False, use_digits=False)
    evidence.policy("strong", length=40, use_symbols=True, provider=evidence.provider())
    outcome = run_check("generator_strength")
    assert outcome["status"] == "pass"
    assert outcome["drilldown"]["rows"] == [["strong", 40, 4, "", 1, "strong"]]
