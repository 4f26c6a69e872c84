"""The dashboard home's query count is pinned and does not grow with the inventory (aggregate queries only)."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from guardian.shortcuts import assign_perm

from providers.models import Secret
from secretsadmin.dashboard import forget_snapshot

pytestmark = pytest.mark.django_db

# What a page costs at most, whatever the inventory: session and user, roles and grants, the figures, "My work".
MAX_QUERIES = 30
# The snapshot's: the policy rules and their intervals, the inventory's counts, the runs' outcomes; less the check
# whether a provider synced since the snapshot was taken.
SNAPSHOT_QUERIES = 4 - 1


def grow(scenario, total):
    """More secrets on both providers, of every kind the figures count, until there are `total`."""
    have = Secret.objects.count()
    Secret.objects.bulk_create([
        Secret(provider=scenario.dev if i % 2 else scenario.prod, name=f"bulk/{i:04d}", environment=f"env-{i % 3}",
               status="missing" if i % 7 == 0 else "active")
        for i in range(total - have)])


def queries(client, user, *, cached=False):
    client.force_login(user)
    client.get("/")  # fills the process's caches (content types), which the second page would find filled
    if not cached:
        forget_snapshot()
    with CaptureQueriesContext(connection) as context:
        assert client.get("/").status_code == 200
    return len(context.captured_queries)


@pytest.mark.parametrize("name", ["alice", "charlie", "dana", "erin"])
def test_a_role_users_page_costs_the_same_queries_for_9_or_200_secrets(client, role_users, scenario, name):
    small, cached_small = queries(client, role_users[name]), queries(client, role_users[name], cached=True)
    grow(scenario, 200)
    assert queries(client, role_users[name]) == small <= MAX_QUERIES
    # From the snapshot: the inventory's and the runs' passes are not made at all.
    assert queries(client, role_users[name], cached=True) == cached_small == small - SNAPSHOT_QUERIES


def test_a_one_provider_grants_page_costs_the_same_queries_for_9_or_200_secrets(client, mallory, scenario):
    assign_perm("providers.view_provider", mallory, scenario.dev)
    assign_perm("rotation.view_rotationrequest", mallory)
    small = queries(client, mallory)
    grow(scenario, 200)
    assert queries(client, mallory) == small <= MAX_QUERIES
