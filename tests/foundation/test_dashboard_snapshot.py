"""Role users' inventory and rotation figures come from a snapshot the scheduler refreshes; grants are counted live."""
import pytest
from django.utils import timezone
from django_rq.cron import DjangoCronScheduler

from providers.models import Provider
from secretsadmin.dashboard import SNAPSHOT_TTL, compute_snapshot, refresh_dashboard_snapshot_job
from tests.compliance.evidence import Evidence
from tests.foundation.dashboard_page import get_home, read, values

pytestmark = pytest.mark.django_db


def secrets_on(client, user):
    response = get_home(client, user)
    return values(read(response))["secrets"], response.content.decode()


def test_role_users_read_the_snapshot_until_it_is_refreshed(client, role_users, scenario):
    assert secrets_on(client, role_users["alice"])[0] == 9
    Evidence().secret(scenario.dev, "app/new")
    assert secrets_on(client, role_users["alice"])[0] == 9
    assert refresh_dashboard_snapshot_job() == 4  # (provider, environment) groups: the new one has none
    assert secrets_on(client, role_users["alice"])[0] == 10


def test_a_sync_since_the_snapshot_was_taken_has_the_figures_counted_again(client, role_users, scenario):
    assert secrets_on(client, role_users["alice"])[0] == 9
    Evidence().secret(scenario.dev, "app/synced")
    Provider.objects.filter(pk=scenario.dev.pk).update(last_sync_at=timezone.now())  # as providers.sync does
    assert secrets_on(client, role_users["alice"])[0] == 10


def test_the_page_says_when_its_figures_were_counted(client, role_users, scenario):
    snapshot = compute_snapshot()
    _, html = secrets_on(client, role_users["alice"])
    assert f"as of <time datetime=\"{snapshot['as_of'].isoformat().replace('+00:00', 'Z')}\"" in html
    assert "refreshed every minute" in html


def test_a_grant_is_counted_live(client, vault_viewer, scenario):
    assert secrets_on(client, vault_viewer)[0] == 3
    Evidence().secret(scenario.dev, "app/new")
    count, html = secrets_on(client, vault_viewer)
    assert count == 4 and "refreshed every minute" not in html


def test_the_snapshot_expires_soon_enough_without_a_scheduler():
    assert SNAPSHOT_TTL <= 120


def test_the_scheduler_refreshes_the_snapshot_every_minute():
    scheduler = DjangoCronScheduler()
    scheduler.load_config_from_file("secretsadmin.cron")
    jobs = {job.func.__name__: job for job in scheduler.get_jobs()}
    assert jobs["refresh_dashboard_snapshot_job"].interval == 60


def test_the_home_page_counts_live_while_the_cache_server_is_down(client, role_users, scenario, settings):
    from secretsadmin.process_group import free_port

    compute_snapshot()
    Evidence().secret(scenario.dev, "app/new")
    # Redis restarting: nothing answers where the cache lives. The page must not fail, nor show the stale snapshot.
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}}
    count, html = secrets_on(client, role_users["alice"])
    assert count == 10
