"""The dashboard's "My work" panel: approvals waiting for me, my requests, and the reviews I owe."""
import pytest
from guardian.shortcuts import assign_perm

from secretsadmin.my_work import access_review_every_days
from tests.compliance.evidence import Evidence
from tests.foundation.dashboard_page import get_home, read

pytestmark = pytest.mark.django_db


def work(client, user):
    response = get_home(client, user)
    return read(response).work, response.context["work"], response.content.decode()


def test_an_approver_sees_what_waits_for_their_decision_but_not_their_own_request(client, role_users, scenario):
    counts, panel, html = work(client, role_users["charlie"])
    assert counts["approvals"] == "1"
    assert panel["approvals"]["rows"] == [scenario.rows["waiting"]]
    assert scenario.rows["waiting"].get_absolute_url() in html
    assert scenario.rows["own"] not in panel["approvals"]["rows"]


def test_an_approver_owes_the_review_of_someone_elses_emergency_rotation(client, role_users, scenario):
    counts, panel, _ = work(client, role_users["charlie"])
    assert counts["reviews"] == "1" and panel["reviews"]["rows"] == [scenario.rows["emergency"]]


def test_whoever_ran_an_emergency_rotation_does_not_owe_its_review(client, role_users, scenario):
    assign_perm("providers.approve_rotation", role_users["bob"])  # bob may approve too, but ran it himself
    counts, panel, _ = work(client, role_users["bob"])
    assert counts["reviews"] == "0" and panel["reviews"]["rows"] == []


def test_an_acknowledged_review_is_owed_no_more(client, role_users, scenario):
    Evidence().run(scenario.rows["d3"], requester=role_users["bob"], trigger="emergency", reviewed_by=role_users[
        "erin"], reviewed=1)
    counts, _, _ = work(client, role_users["charlie"])
    assert counts["reviews"] == "1"  # only the open one of the scenario


def test_an_operator_follows_their_requests_and_their_states(client, role_users, scenario):
    counts, panel, html = work(client, role_users["bob"])
    assert counts["requests"] == "2" and panel["requests"]["total"] == 6
    assert panel["requests"]["rows"][0] == scenario.rows["staging"]  # the newest first
    assert 'data-state="staging"' in html and 'href="/rotations/?mine=true"' in html
    assert "approvals" not in panel


def test_my_requests_link_lists_exactly_my_requests(client, role_users, scenario):
    client.force_login(role_users["bob"])
    assert client.get("/rotations/?mine=true").context["page"].paginator.count == 6
    assert client.get("/rotations/?mine=true&state=open").context["page"].paginator.count == 2


def test_an_administrator_is_told_when_the_access_review_is_due(client, role_users, scenario):
    counts, panel, html = work(client, role_users["erin"])
    assert panel["access_review"]["due"] and counts["access-review"] == "due"
    assert 'href="/access-review/"' in html and "due since" in html


def test_a_recent_access_review_is_not_due(client, role_users, fresh_snapshot):
    Evidence().access_review(role_users["erin"], days=access_review_every_days() - 5)
    counts, panel, html = work(client, role_users["erin"])
    assert not panel["access_review"]["due"] and "access-review" not in counts and "next due by" in html


def test_without_any_review_one_is_due(client, role_users, fresh_snapshot):
    _, panel, html = work(client, role_users["erin"])
    assert panel["access_review"]["due"] and "No access review has been recorded yet" in html


@pytest.mark.parametrize("name", ["alice", "dana"])
def test_roles_with_nothing_to_do_get_no_panel(client, role_users, scenario, name):
    _, panel, html = work(client, role_users[name])
    assert panel == {} and 'data-testid="my-work"' not in html


def test_an_auditor_who_requested_nothing_owes_no_access_review(client, role_users, scenario):
    _, panel, _ = work(client, role_users["dana"])
    assert "access_review" not in panel


def test_an_approver_with_a_one_provider_grant_sees_that_providers_requests_only(client, mallory, scenario):
    assign_perm("providers.view_provider", mallory, scenario.prod)
    assign_perm("providers.approve_provider_rotation", mallory, scenario.prod)
    assign_perm("rotation.view_rotationrequest", mallory)
    _, panel, _ = work(client, mallory)
    assert panel["approvals"]["rows"] == [scenario.rows["waiting"]]  # charlie's request is on vault-dev
    assert panel["reviews"]["rows"] == [scenario.rows["emergency"]]
