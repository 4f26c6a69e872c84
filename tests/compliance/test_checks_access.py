"""Access evidence: privileged holders, access reviews, separation of duties, dormant accounts, sign-ins."""
import pytest
from django.contrib.auth.models import Group
from guardian.shortcuts import assign_perm

from secretsadmin import roles
from tests.compliance.conftest import scenarios_for


@pytest.mark.parametrize(("slug", "status"), scenarios_for("access"))
def test_each_data_set_gives_its_status(slug, status, scenario, run_check):
    assert run_check(slug, scenario(slug, status))["status"] == status


def test_holders_are_listed_with_how_they_hold_it(evidence, run_check, role_users):
    provider = evidence.provider("aws-prod")
    secret = evidence.secret(provider, "db/main")
    rita, team = evidence.user("rita"), Group.objects.create(name="payments-oncall")
    assign_perm("reveal_provider_secrets", rita, provider)
    assign_perm("emergency_rotation", team, secret)
    evidence.user("sam").groups.add(team)
    evidence.event("secret.revealed", actor=rita, secret=secret, days=3)
    outcome = run_check("access_privileged_holders")
    rows = outcome["drilldown"]["rows"]
    assert ["charlie", "approve", "role Approver (every secret)", ""] in rows
    assert ["rita", "reveal", "grant on provider aws-prod", ""] in rows
    assert ["sam", "emergency", "group payments-oncall, grant on secret aws-prod:db/main", ""] in rows
    assert outcome["figures"]["reveal_holders"] == 1 and outcome["figures"]["emergency_holders"] == 1
    assert role_users["dana"].username not in {row[0] for row in rows}  # Auditors hold none of these
    assert outcome["status"] == "pass"


def test_a_superuser_makes_holders_partial(evidence, run_check):
    evidence.user("root", superuser=True)
    outcome = run_check("access_privileged_holders")
    assert outcome["status"] == "partial"
    assert ["root", "every permission", "superuser", "no reveal in 90 days"] in outcome["drilldown"]["rows"]


def test_an_unused_reveal_grant_is_noted(scenario, run_check):
    scenario("access_privileged_holders", "partial")
    rows = run_check("access_privileged_holders")["drilldown"]["rows"]
    assert [row for row in rows if row[0] == "revealer"][0][3] == "no reveal in 90 days"


def test_the_latest_review_before_the_period_end_counts(evidence, run_check):
    evidence.access_review(evidence.user("erin"), days=200)
    evidence.access_review(evidence.user("frank"), days=20)
    outcome = run_check("access_review_recent")
    assert outcome["status"] == "pass" and outcome["figures"]["latest_reviewer"] == "frank"
    assert [row[1] for row in outcome["drilldown"]["rows"]] == ["frank", "erin"]


def test_no_review_at_all_fails(run_check, db):
    assert run_check("access_review_recent")["status"] == "fail"


def test_separation_lists_the_overlap_and_the_violations(evidence, run_check):
    both = evidence.user("olga", roles.OPERATOR)
    both.groups.add(Group.objects.get(name=roles.APPROVER))
    evidence.run(evidence.secret(evidence.provider(), "db/main"), requester=both, approvers=[both])
    outcome = run_check("separation_of_duties")
    assert outcome["status"] == "fail"
    assert outcome["figures"]["own_runs_approved"] == 1 and outcome["figures"]["overlap_people"] == 1
    assert [row[:3] for row in outcome["drilldown"]["rows"]] == [
        ["approved own request", "olga", "db/main"], ["may request and approve", "olga", "Approver, Operator"]]


def test_grants_count_towards_the_overlap(evidence, run_check):
    operator = evidence.user("olga", roles.OPERATOR)
    assign_perm("approve_rotation", operator, evidence.secret(evidence.provider()))
    outcome = run_check("separation_of_duties")
    assert outcome["status"] == "partial" and outcome["figures"]["overlap_people"] == 1


def test_dormant_accounts_are_listed_with_their_last_sign_in(evidence, run_check):
    evidence.login(evidence.user("active", joined=400), days=3)
    evidence.login(evidence.user("sleepy", joined=400), days=150)
    evidence.user("new", joined=10)  # too new to be dormant
    outcome = run_check("dormant_accounts")
    assert outcome["figures"]["dormant"] == 1 and outcome["figures"]["accounts"] == 3
    (row,) = outcome["drilldown"]["rows"]
    assert row[0] == "sleepy" and row[2] is not None


def test_failed_sign_ins_are_grouped_by_account(evidence, run_check):
    evidence.failed_logins("mallory", 3)
    evidence.failed_logins("admin", 12)
    outcome = run_check("login_monitoring")
    assert outcome["status"] == "partial"
    assert [row[:2] for row in outcome["drilldown"]["rows"]] == [["admin", 12], ["mallory", 3]]
    assert outcome["figures"]["accounts_over_partial"] == 1 and outcome["figures"]["failed_sign_ins"] == 15


def test_no_sign_ins_is_not_applicable(run_check, db):
    assert run_check("login_monitoring")["status"] == "not_applicable"
