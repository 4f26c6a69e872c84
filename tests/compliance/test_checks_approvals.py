"""Approval evidence: runs only with their approvals, refused self-approvals, emergency reviews."""
import datetime as dt

import pytest

from rotation.models import RotationRequest
from rotation.services import RotationRefused, decide_rotation, request_rotation
from secretsadmin import roles
from tests.compliance.conftest import scenarios_for


@pytest.mark.parametrize(("slug", "status"), scenarios_for("approvals"))
def test_each_data_set_gives_its_status(slug, status, scenario, run_check):
    assert run_check(slug, scenario(slug, status))["status"] == status


def test_nothing_to_judge_is_not_applicable(run_check, db):
    for slug in ("rotations_approved", "self_approval_refused", "emergency_reviews"):
        assert run_check(slug)["status"] == "not_applicable"


def test_unapproved_runs_are_listed(evidence, run_check):
    operator = evidence.user("olga", roles.OPERATOR)
    evidence.run(evidence.secret(evidence.provider("aws-prod"), "db/main"), requester=operator, required=2,
                 approvers=[evidence.user("pedro", roles.APPROVER)])
    outcome = run_check("rotations_approved")
    assert outcome["status"] == "fail"
    assert outcome["figures"]["unapproved"] == 1
    row = outcome["drilldown"]["rows"][0]
    assert row[:4] == ["aws-prod", "db/main", "olga", "manual"] and row[5:] == [1, 2]


def test_the_requester_s_own_approval_does_not_count(evidence, run_check):
    operator = evidence.user("olga", roles.OPERATOR)
    evidence.run(evidence.secret(evidence.provider()), requester=operator, approvers=[operator])
    assert run_check("rotations_approved")["figures"]["unapproved"] == 1


def test_auto_approved_scheduled_runs_and_emergencies_need_no_approval_here(evidence, run_check):
    secret = evidence.secret(evidence.provider())
    evidence.run(secret, trigger="scheduled", required=0, created=6, started=5)
    evidence.run(secret, requester=evidence.user(), trigger="emergency", required=0)
    outcome = run_check("rotations_approved")
    assert outcome["status"] == "pass"
    assert outcome["figures"] == {"executed": 1, "unapproved": 0, "auto_approved": 1, "emergency": 1}


def test_a_refused_self_approval_from_the_service_is_counted(evidence, run_check, role_users):
    """The real refusal path: rotation.services audits the attempt, the check finds it."""
    bob, charlie = role_users["bob"], role_users["charlie"]
    provider = evidence.provider("aws-prod")
    evidence.policy(provider=provider)
    rotation = request_rotation(evidence.secret(provider, "db/main"), actor=bob, reason="quarterly rotation")
    with pytest.raises(RotationRefused):
        decide_rotation(rotation, actor=bob, approve=True)
    decide_rotation(rotation, actor=charlie, approve=False, comment="not now")
    outcome = run_check("self_approval_refused")
    assert outcome["status"] == "pass"
    assert outcome["figures"]["refused_attempts"] == 1 and outcome["figures"]["accepted_self_approvals"] == 0
    (row,) = outcome["drilldown"]["rows"]
    assert row[1] == "bob" and row[3] == "You cannot approve or reject your own request."
    assert "db/main" in row[2]


def test_someone_else_s_refusal_is_not_a_self_approval(evidence, run_check, role_users):
    provider = evidence.provider()
    evidence.policy(provider=provider)
    rotation = request_rotation(evidence.secret(provider), actor=role_users["bob"], reason="quarterly rotation")
    with pytest.raises(RotationRefused):
        decide_rotation(rotation, actor=role_users["alice"], approve=True)  # a Viewer may not approve
    assert run_check("self_approval_refused")["figures"]["refused_attempts"] == 0


def test_emergency_reviews_list_each_run_and_its_review(evidence, run_check):
    operator, approver = evidence.user("olga", roles.OPERATOR), evidence.user("pedro", roles.APPROVER)
    provider = evidence.provider("vault-main")
    evidence.run(evidence.secret(provider, "a"), requester=operator, trigger="emergency", required=0, created=20,
                 started=20, reviewed_by=approver, reviewed=19)
    evidence.run(evidence.secret(provider, "b"), requester=operator, trigger="emergency", required=0, created=20,
                 started=20, reviewed_by=approver, reviewed=2)
    outcome = run_check("emergency_reviews")
    assert outcome["status"] == "partial"  # the second review came 18 days late
    assert [row[-1] for row in outcome["drilldown"]["rows"]] == ["acknowledged", "acknowledged late"]
    assert outcome["figures"] == {"emergency": 2, "acknowledged": 2, "late": 1, "overdue": 0, "open": 0}


def test_a_review_after_the_period_is_still_open_as_of_its_end(evidence, run_check, period):
    approver = evidence.user("pedro", roles.APPROVER)
    evidence.run(evidence.secret(evidence.provider()), requester=evidence.user(), trigger="emergency", required=0,
                 created=25, started=25, reviewed_by=approver, reviewed=1)
    end = period[1] - dt.timedelta(days=10)
    outcome = run_check("emergency_reviews", start=end - dt.timedelta(days=20), end=end)
    assert outcome["status"] == "fail"
    assert outcome["drilldown"]["rows"][0][4:] == ["", None, "overdue"]
    assert RotationRequest.objects.get().reviewed_at is not None
