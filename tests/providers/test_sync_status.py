"""The provider page's sync card: queued, running, finished; it polls only while there is something to wait for."""
import pytest
from django.urls import reverse
from django.utils import timezone

from providers.models import Provider
from providers.services import request_sync, sync_status

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider():
    return Provider.objects.create(kind="vault", name="vault-status", settings={"address": "http://127.0.0.1:1"})


def card(client, provider):
    answer = client.get(reverse("providers:provider_sync_status", args=[provider.uuid]))
    assert answer.status_code == 200
    return answer.content.decode()


def test_a_requested_sync_is_queued_and_polled_until_a_worker_finishes_it(client, role_users, provider,
                                                                        django_capture_on_commit_callbacks):
    client.force_login(role_users["erin"])
    assert sync_status(provider) == {"sync_queued": False, "sync_busy": False, "secret_count": 0}
    assert 'data-busy="false"' in card(client, provider) and "hx-get" not in card(client, provider)

    with django_capture_on_commit_callbacks(execute=False):  # the job itself is not what this test is about
        request_sync(provider, actor=role_users["erin"])
    page = card(client, provider)
    assert "Sync queued: waiting for a worker." in page and 'hx-trigger="every 2s"' in page

    Provider.objects.filter(pk=provider.pk).update(sync_started_at=timezone.now())  # a worker claimed it
    provider.refresh_from_db()
    page = card(client, provider)
    assert "A sync is running since" in page and 'hx-trigger="every 2s"' in page

    Provider.objects.filter(pk=provider.pk).update(sync_started_at=None, last_sync_at=timezone.now(),
                                                   last_sync_ok=True)
    provider.refresh_from_db()
    page = card(client, provider)
    assert 'data-busy="false"' in page and "hx-get" not in page and "ok</span>" in page


def test_the_detail_page_carries_the_same_card(client, role_users, provider):
    client.force_login(role_users["alice"])
    page = client.get(reverse("providers:provider_detail", args=[provider.uuid])).content.decode()
    assert 'id="sync-status"' in page and "Never synced." in page


def test_strangers_get_404(client, mallory, provider):
    client.force_login(mallory)
    assert client.get(reverse("providers:provider_sync_status", args=[provider.uuid])).status_code == 404
