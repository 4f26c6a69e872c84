"""Paging the inventory: the fast paginators give Paginator's pages and totals, and the list pages by them."""
import re

import pytest
from django.contrib.auth.models import Group
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Q
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from guardian.shortcuts import assign_perm

from providers.filters import SecretFilter
from providers.inventory_paging import ProviderBlockPaginator
from providers.models import Provider, Secret
from secretsadmin.listing import SinglePassPaginator

pytestmark = pytest.mark.django_db

LIST = reverse("providers:secret_list")
# Blocks larger than a page, smaller than a page, of one secret, and a provider with none; the names'
# order differs from the order the rows were created in.
BLOCKS = {"vault-b": 9, "aws-a": 2, "gcp-d": 1, "azure-c": 13, "vault-empty": 0}
PAGE_SIZES = (1, 4, 5, 50)


@pytest.fixture
def blocks():
    for name, size in BLOCKS.items():
        provider = Provider.objects.create(kind="vault", name=name)
        Secret.objects.bulk_create(
            Secret(provider=provider, name=f"app/{(i * 7) % size:02}-{name}#k", owner="odd" if i % 2 else "even",
                   environment="prod" if i % 3 else "dev")
            for i in range(size))


def pages(paginator_class, queryset, per_page):
    """Every page (and one past the end, bad numbers, and pages no OFFSET can reach) as (number, [pk], total)."""
    seen = []
    for number in [*range(1, len(queryset) // per_page + 3), "abc", "-1", None, str(2**63), 10**20]:
        page = paginator_class(queryset, per_page).get_page(number)
        seen.append((page.number, [secret.pk for secret in page.object_list], page.paginator.count,
                     page.paginator.num_pages))
    return seen


def inventory(params=""):
    filterset = SecretFilter(QueryDict(params), queryset=Secret.objects.select_related("provider"))
    assert filterset.is_valid()
    return filterset


@pytest.mark.parametrize("per_page", PAGE_SIZES)
@pytest.mark.parametrize("params", ["", "sort=provider", "sort=provider,name", "owner=odd", "q=nothing-matches"])
def test_provider_blocks_page_like_paginator(blocks, per_page, params):
    filterset = inventory(params)
    assert filterset.in_provider_order()
    assert pages(ProviderBlockPaginator, filterset.qs, per_page) == pages(Paginator, filterset.qs, per_page)


@pytest.mark.parametrize("per_page", PAGE_SIZES)
@pytest.mark.parametrize("params", ["sort=name", "sort=-name", "sort=-provider", "sort=environment,-owner",
                                    "sort=-last_rotated", "sort=status&environment=prod", "", "q=nothing-matches"])
def test_a_single_pass_pages_like_paginator(blocks, per_page, params):
    queryset = inventory(params).qs
    assert pages(SinglePassPaginator, queryset, per_page) == pages(Paginator, queryset, per_page)


def test_the_sorts_that_are_not_by_provider_are_not_paged_by_provider_blocks():
    for params in ("sort=name", "sort=-provider", "sort=name,provider", "sort=provider,-name"):
        assert not inventory(params).in_provider_order(), params


def names_in(response):
    assert response.status_code == 200
    return re.findall(r'<a class="stretched-link[^"]*" href="/inventory/[0-9a-f-]+/">([^<]*)</a>',
                      response.content.decode())


def test_the_list_pages_through_providers_in_name_order(client, role_users, blocks):
    Secret.objects.bulk_create(Secret(provider=Provider.objects.get(name="azure-c"), name=f"bulk/{i:03}#k")
                               for i in range(60))
    expected = list(Secret.objects.order_by("provider__name", "name").values_list("name", flat=True))
    client.force_login(role_users["alice"])
    first, second = client.get(LIST), client.get(LIST, {"page": "2"})
    assert names_in(first) + names_in(second) == expected
    assert f"{len(expected)} in total" in first.content.decode()
    assert "Page 2 of 2" in second.content.decode()
    assert names_in(client.get(LIST, {"page": "7"})) == names_in(second)  # past the end: the last page


def test_the_default_list_query_count_does_not_grow_with_rows(client, role_users, blocks):
    client.force_login(role_users["alice"])

    def count_queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(LIST).status_code == 200
        return len(captured)

    count_queries()  # the first request also fills per-process caches (content types)
    before = count_queries()
    for provider in Provider.objects.all():
        Secret.objects.bulk_create(Secret(provider=provider, name=f"more/{i:03}#k") for i in range(40))
    assert count_queries() == before


def test_provider_and_secret_grants_show_together(client, mallory, blocks):
    team = Group.objects.create(name="team-odd")
    mallory.groups.add(team)
    assign_perm("providers.view_provider", mallory, Provider.objects.get(name="aws-a"))
    assign_perm("providers.view_secret", team, Secret.objects.filter(provider__name="gcp-d"))
    single = Secret.objects.filter(provider__name="vault-b").order_by("name").first()
    assign_perm("providers.view_secret", mallory, single)
    client.force_login(mallory)
    expected = list(Secret.objects.filter(Q(provider__name__in=["aws-a", "gcp-d"]) | Q(pk=single.pk))
                    .order_by("provider__name", "name").values_list("name", flat=True))
    response = client.get(LIST)
    assert names_in(response) == expected and len(expected) == 4
    assert f"{len(expected)} in total" in response.content.decode()


def test_the_new_secret_button_follows_a_grant_to_manage_a_providers_secrets(client, role_users, mallory, blocks):
    assign_perm("providers.view_provider", mallory, Provider.objects.get(name="aws-a"))
    client.force_login(mallory)
    create = reverse("providers:secret_create")
    assert create not in client.get(LIST).content.decode()
    assign_perm("providers.change_provider_secrets", mallory, Provider.objects.get(name="aws-a"))
    assert create in client.get(LIST).content.decode()
    client.force_login(role_users["alice"])
    assert create not in client.get(LIST).content.decode()


def test_each_row_links_to_its_secrets_detail_page(client, role_users, blocks):
    client.force_login(role_users["alice"])
    body = client.get(LIST, {"sort": "-name"}).content.decode()
    links = re.findall(r'<a class="stretched-link[^"]*" href="([^"]*)">([^<]*)</a>', body)
    by_name = {secret.name: secret.get_absolute_url() for secret in Secret.objects.all()}
    assert links and all(href == by_name[name] for href, name in links)
