"""The dashboard home: figures the user may see, linking to the filtered lists, and the chain badge."""
import pytest
from django.utils import timezone
from guardian.shortcuts import assign_perm

from providers.models import Provider, Secret

pytestmark = pytest.mark.django_db


@pytest.fixture
def inventory():
    prod = Provider.objects.create(kind="aws", name="aws-prod", settings={"region": "eu-west-1"})
    dev = Provider.objects.create(kind="aws", name="aws-dev", settings={"region": "eu-west-1"})
    Secret.objects.create(provider=prod, name="prod/drifted", changed_out_of_band_at=timezone.now())
    Secret.objects.create(provider=prod, name="prod/gone", status=Secret.Status.MISSING)
    Secret.objects.create(provider=dev, name="dev/drifted", changed_out_of_band_at=timezone.now())
    return prod, dev


def figures(client):
    page = client.get("/").content.decode()
    return page


def test_figures_link_to_the_filtered_inventory(client, role_users, inventory):
    client.force_login(role_users["alice"])
    page = figures(client)
    assert 'href="/inventory/?out_of_band=true"' in page and 'href="/inventory/?status=missing"' in page
    assert "Changed out of band" in page


def test_figures_count_only_what_the_user_may_see(client, mallory, inventory):
    prod, _ = inventory
    assign_perm("providers.view_provider", mallory, prod)
    client.force_login(mallory)
    response = client.get("/")
    counts = {label: value for label, value, *_ in response.context["figures"]}
    assert counts["Secrets"] == 2 and counts["Changed out of band"] == 1 and counts["Missing in provider"] == 1


def test_the_chain_badge_shows_for_auditors_only(client, role_users):
    client.force_login(role_users["dana"])
    assert 'data-testid="chain-badge"' in figures(client)
    client.force_login(role_users["alice"])
    assert 'data-testid="chain-badge"' not in figures(client)
