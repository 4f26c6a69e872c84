"""The list filters the dashboard links to: failed runs (rotation list) and providers with sync problems."""
from datetime import timedelta

import pytest
from django.utils import timezone

from providers.filters import SYNC_STALE_SLACK_MINUTES, sync_problems
from providers.models import Provider
from tests.compliance.evidence import Evidence

pytestmark = pytest.mark.django_db


def rows(client, user, href):
    client.force_login(user)
    response = client.get(href)
    assert response.status_code == 200
    return response, list(response.context["page"].object_list)


def test_the_rotation_list_shows_runs_that_failed_in_the_last_seven_days(client, role_users, scenario):
    _, listed = rows(client, role_users["alice"], "/rotations/?failed=7")
    assert listed == [scenario.rows["failed_recent"]]


def test_a_longer_window_takes_in_older_failures(client, role_users, scenario):
    _, listed = rows(client, role_users["alice"], "/rotations/?failed=30")
    assert set(listed) == {scenario.rows["failed_recent"], scenario.rows["failed_older"]}


def test_a_run_that_failed_twice_is_listed_once(client, role_users, scenario):
    run = scenario.rows["failed_recent"]
    Evidence().event("secret.rotation", actor="worker", target=run, secret=run.secret, days=1, outcome="failure")
    _, listed = rows(client, role_users["alice"], "/rotations/?failed=7")
    assert listed == [run]


def test_failed_runs_of_invisible_secrets_stay_invisible(client, vault_viewer, scenario):
    _, listed = rows(client, vault_viewer, "/rotations/?failed=30")
    assert listed == [scenario.rows["failed_recent"]]  # failed_older is on aws-prod


def test_an_unknown_failure_window_is_a_form_error_not_a_list(client, role_users, scenario):
    response, listed = rows(client, role_users["alice"], "/rotations/?failed=365")
    assert listed == [] and 'data-testid="filter-error"' in response.content.decode()


def test_the_provider_list_shows_providers_whose_sync_failed_or_is_stale(client, role_users, scenario):
    _, listed = rows(client, role_users["alice"], "/providers/?sync=problem")
    assert [p.name for p in listed] == ["gcp-stale", "vault-dev"]


def test_a_disabled_provider_has_no_sync_problem(client, role_users, scenario):
    Provider.objects.filter(pk=scenario.dev.pk).update(enabled=False)
    _, listed = rows(client, role_users["alice"], "/providers/?sync=problem")
    assert [p.name for p in listed] == ["gcp-stale"]


def test_an_unknown_sync_filter_is_a_form_error_not_a_list(client, role_users, scenario):
    response, listed = rows(client, role_users["alice"], "/providers/?sync=everything")
    assert listed == [] and "Fix the filter above" in response.content.decode()


@pytest.mark.parametrize(("last_success_minutes_ago", "stale"), [(None, True), (60, False), (129, False),
                                                                  (131, True)])
def test_a_provider_is_stale_once_it_missed_a_sync(db, last_success_minutes_ago, stale):
    now = timezone.now()
    provider = Evidence().provider("hourly", created=1)  # registered a day ago
    synced = None if last_success_minutes_ago is None else now - timedelta(minutes=last_success_minutes_ago)
    Provider.objects.filter(pk=provider.pk).update(sync_interval_minutes=60, last_sync_ok=True,
                                                   last_successful_sync_at=synced)
    assert SYNC_STALE_SLACK_MINUTES == 10  # 2 x 60 + 10 = 130 minutes
    assert sync_problems(Provider.objects.all(), now).exists() is stale


def test_a_new_provider_that_never_synced_is_not_stale_yet(db):
    provider = Evidence().provider("fresh", created=0)
    Provider.objects.filter(pk=provider.pk).update(sync_interval_minutes=60)
    assert not sync_problems(Provider.objects.all()).exists()
