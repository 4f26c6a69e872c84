"""The inventory list (filters, sorting, age, badges) and a secret's detail page (versions, audit trail)."""
import re
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

import audit
from providers.filters import DEFAULT_ROTATION_DAYS, rotation_age, rotation_interval_days
from providers.models import Provider, Secret
from tests.conftest import free_port

pytestmark = pytest.mark.django_db

LIST = reverse("providers:secret_list")
XSS = '<script>alert("x")</script>'


def closed_port_provider(name, monkeypatch):
    """A Vault provider nobody listens for: describing a secret fails fast with NetworkError."""
    monkeypatch.setenv("SA_INVENTORY_TEST_TOKEN", "not-used-nothing-listens")
    return Provider.objects.create(
        kind="vault", name=name, settings={"address": f"http://127.0.0.1:{free_port()}"},
        auth_reference={"method": "env", "variables": {"token": "SA_INVENTORY_TEST_TOKEN"}})


def days_ago(days):
    return timezone.now() - timedelta(days=days)


@pytest.fixture
def inventory(monkeypatch):
    prod = closed_port_provider("vault-prod", monkeypatch)
    dev = closed_port_provider("vault-dev", monkeypatch)
    make = Secret.objects.create
    return {
        "prod": prod, "dev": dev,
        "db": make(provider=prod, name="app/db#password", description="Primary PostgreSQL login",
                   environment="production", owner="payments", tags={"team": "payments", "tier": "gold"},
                   last_rotated_at=days_ago(10)),
        "api": make(provider=prod, name="app/api#key", environment="production", owner="platform",
                    tags={"city": "Zürich"}, last_rotated_at=days_ago(120),
                    changed_out_of_band_at=days_ago(1)),
        "old": make(provider=prod, name="legacy/ftp#password", environment="staging", owner="ops",
                    status=Secret.Status.MISSING),
        "cache": make(provider=dev, name="dev/cache#token", environment="dev", owner="platform",
                    status=Secret.Status.DISABLED, last_rotated_at=days_ago(80)),
    }


def names_in(response):
    """The secret names listed, in page order (each row's link text)."""
    assert response.status_code == 200
    return re.findall(r'<a class="stretched-link[^"]*" href="/inventory/[0-9a-f-]+/">([^<]*)</a>',
                      response.content.decode())


def filter_errors(response):
    return re.findall(r'data-testid="filter-error">([^<]*)<', response.content.decode())


def detail(secret):
    return reverse("providers:secret_detail", args=[secret.uuid])


# -- access ------------------------------------------------------------------------------------------

def test_a_viewer_sees_the_list_with_links_to_each_detail(client, role_users, inventory):
    client.force_login(role_users["alice"])
    response = client.get(LIST)
    assert sorted(names_in(response)) == sorted(s.name for k, s in inventory.items() if k not in ("prod", "dev"))
    assert f'href="{inventory["db"].get_absolute_url()}"' in response.content.decode()
    assert "4 in total" in response.content.decode()


def test_a_viewer_sees_the_detail_page(client, role_users, inventory):
    client.force_login(role_users["alice"])
    response = client.get(detail(inventory["db"]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "app/db#password" in body and "Primary PostgreSQL login" in body
    assert "<code>tier</code>" in body and "gold" in body
    assert "Rotation history" in body and "once one has been requested" in body


def test_get_absolute_url_is_the_detail_page(inventory):
    assert inventory["db"].get_absolute_url() == f"/inventory/{inventory['db'].uuid}/"


def test_a_user_without_a_role_gets_403_on_the_list_and_404_on_the_detail(client, mallory, inventory):
    client.force_login(mallory)
    assert client.get(LIST).status_code == 403
    assert client.get(detail(inventory["db"])).status_code == 404
    assert client.get(reverse("providers:secret_detail", args=[uuid.uuid4()])).status_code == 404


def test_an_object_grant_shows_only_that_secret(client, mallory, inventory):
    assign_perm("providers.view_secret", mallory, inventory["api"])
    client.force_login(mallory)
    assert names_in(client.get(LIST)) == ["app/api#key"]
    assert client.get(detail(inventory["api"])).status_code == 200
    for other in ("db", "old", "cache"):
        assert client.get(detail(inventory[other])).status_code == 404, other


def test_the_provider_filter_offers_only_providers_the_user_may_know(client, mallory, inventory):
    assign_perm("providers.view_secret", mallory, inventory["api"])
    client.force_login(mallory)
    body = client.get(LIST).content.decode()
    assert '<option value="vault-prod">' in body
    assert "vault-dev" not in body
    response = client.get(LIST, {"provider": "vault-dev"})
    assert names_in(response) == [] and filter_errors(response)


def test_the_list_and_detail_refuse_posts(client, role_users, inventory):
    client.force_login(role_users["alice"])
    assert client.post(LIST).status_code == 405
    assert client.post(detail(inventory["db"])).status_code == 405


# -- filters -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("params", "expected"), [
    ({"q": "DB#pass"}, {"app/db#password"}),  # name, any case
    ({"q": "postgresql"}, {"app/db#password"}),  # description
    ({"q": "gold"}, {"app/db#password"}),  # a tag value
    ({"q": "tier"}, {"app/db#password"}),  # a tag key
    ({"q": "zürich"}, {"app/api#key"}),  # non-ASCII tags, which SQLite stores escaped
    ({"q": "nothing-like-this"}, set()),
    ({"provider": "vault-dev"}, {"dev/cache#token"}),
    ({"environment": "PRODUCTION"}, {"app/db#password", "app/api#key"}),  # iexact
    ({"environment": "prod"}, set()),  # not a substring match
    ({"owner": "PLATFORM"}, {"app/api#key", "dev/cache#token"}),
    ({"status": "missing"}, {"legacy/ftp#password"}),
    ({"status": "disabled"}, {"dev/cache#token"}),
    ({"status": "active"}, {"app/db#password", "app/api#key"}),
    ({"rotation": "never"}, {"legacy/ftp#password"}),
    ({"rotation": "overdue"}, {"app/api#key", "legacy/ftp#password"}),
    ({"out_of_band": "true"}, {"app/api#key"}),
    ({"out_of_band": "false"}, {"app/db#password", "legacy/ftp#password", "dev/cache#token"}),
    ({"owner": "platform", "status": "active"}, {"app/api#key"}),  # filters combine
])
def test_each_filter_selects_its_secrets(client, role_users, inventory, params, expected):
    # legacy/ftp was never rotated and first seen long ago, so it counts as overdue from then.
    Secret.objects.filter(pk=inventory["old"].pk).update(first_seen_at=days_ago(DEFAULT_ROTATION_DAYS + 1))
    client.force_login(role_users["alice"])
    response = client.get(LIST, params)
    assert set(names_in(response)) == expected
    assert filter_errors(response) == []


def test_a_never_rotated_secret_first_seen_recently_is_not_overdue(client, role_users, inventory):
    client.force_login(role_users["alice"])
    assert "legacy/ftp#password" not in names_in(client.get(LIST, {"rotation": "overdue"}))


@pytest.mark.parametrize(("sort", "expected"), [
    ("name", ["app/api#key", "app/db#password", "dev/cache#token", "legacy/ftp#password"]),
    ("-name", ["legacy/ftp#password", "dev/cache#token", "app/db#password", "app/api#key"]),
    ("provider", ["dev/cache#token", "app/api#key", "app/db#password", "legacy/ftp#password"]),
    ("environment", ["dev/cache#token", "app/api#key", "app/db#password", "legacy/ftp#password"]),
    ("owner", ["legacy/ftp#password", "app/db#password", "dev/cache#token", "app/api#key"]),  # ties: provider
    ("last_rotated", ["legacy/ftp#password", "app/api#key", "dev/cache#token", "app/db#password"]),
    ("-last_rotated", ["app/db#password", "dev/cache#token", "app/api#key", "legacy/ftp#password"]),
    ("status", ["app/api#key", "app/db#password", "dev/cache#token", "legacy/ftp#password"]),
])
def test_each_sort_key_orders_the_rows(client, role_users, inventory, sort, expected):
    client.force_login(role_users["alice"])
    assert names_in(client.get(LIST, {"sort": sort})) == expected


@pytest.mark.parametrize("sort", ["tags", "provider__name", "-first_seen_at", "name,bogus", "pk"])
def test_an_unknown_sort_is_a_form_error_not_a_500(client, role_users, inventory, sort):
    client.force_login(role_users["alice"])
    response = client.get(LIST, {"sort": sort})
    assert response.status_code == 200
    assert names_in(response) == []
    assert filter_errors(response)
    assert "Fix the filter above" in response.content.decode()


@pytest.mark.parametrize("params", [
    {"page": "abc"}, {"page": "99999"}, {"page": "-1"},
    {"status": XSS}, {"rotation": "bogus"}, {"provider": XSS}, {"out_of_band": "maybe"},
    {"q": "x" * 500}, {"q": "%_\\'\""}, {"sort": XSS},
])
def test_malformed_values_give_a_clean_page(client, role_users, inventory, params):
    client.force_login(role_users["alice"])
    response = client.get(LIST, params)
    assert response.status_code == 200
    assert XSS not in response.content.decode()


def test_invalid_choices_show_their_errors_and_no_rows(client, role_users, inventory):
    client.force_login(role_users["alice"])
    response = client.get(LIST, {"status": XSS, "rotation": "bogus"})
    assert names_in(response) == []
    assert len(filter_errors(response)) == 2
    assert "&lt;script&gt;" in response.content.decode()


def test_pagination_keeps_the_filters(client, role_users, inventory):
    Secret.objects.bulk_create(Secret(provider=inventory["dev"], name=f"bulk/{i:03}#k", owner="bulk")
                               for i in range(60))
    client.force_login(role_users["alice"])
    body = client.get(LIST, {"owner": "bulk", "sort": "-name"}).content.decode()
    assert 'href="?owner=bulk&amp;sort=-name&amp;page=2"' in body
    second = client.get(LIST, {"owner": "bulk", "sort": "-name", "page": "2"})
    assert names_in(second) == [f"bulk/{i:03}#k" for i in range(9, -1, -1)]


# -- escaping ----------------------------------------------------------------------------------------

def test_markup_in_metadata_is_escaped_in_list_and_detail(client, role_users, monkeypatch):
    provider = closed_port_provider("vault-xss", monkeypatch)
    secret = Secret.objects.create(
        provider=provider, name=f"{XSS}#k", description=f"<img src=x onerror=alert(1)>{XSS}",
        owner="<b>owners</b>", environment="<i>env</i>", tags={"<u>key</u>": XSS, "k": "<svg onload=alert(2)>"})
    client.force_login(role_users["alice"])
    for url in (LIST, detail(secret)):
        body = client.get(url).content.decode()
        assert "<script>alert" not in body, url
        assert "<img src=x" not in body and "<svg" not in body and "<b>owners" not in body, url
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body, url
        assert "&lt;b&gt;owners&lt;/b&gt;" in body, url
        assert "<i>env" not in body and "&lt;i&gt;env&lt;/i&gt;" in body, url
    body = client.get(detail(secret)).content.decode()
    assert "&lt;u&gt;key&lt;/u&gt;" in body and "&lt;svg onload=alert(2)&gt;" in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body


# -- query discipline --------------------------------------------------------------------------------

def test_the_list_query_count_does_not_grow_with_rows(client, role_users, monkeypatch):
    provider = closed_port_provider("vault-many", monkeypatch)
    client.force_login(role_users["alice"])

    def count_queries(params):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(LIST, params).status_code == 200
        return len(captured)

    def add(count, start):
        Secret.objects.bulk_create(
            Secret(provider=provider, name=f"bulk/{i:03}#k", tags={"n": str(i)}, last_rotated_at=days_ago(i),
                   changed_out_of_band_at=days_ago(1) if i % 2 else None) for i in range(start, start + count))

    params = {"q": "bulk", "sort": "-last_rotated"}
    count_queries(params)  # the first request also fills per-process caches (content types)
    add(10, 0)
    with_ten = count_queries(params)
    add(50, 10)
    assert count_queries(params) == with_ten


# -- rotation age ------------------------------------------------------------------------------------

def test_rotation_age_is_judged_against_the_interval():
    now = timezone.now()
    assert rotation_interval_days(Secret()) == DEFAULT_ROTATION_DAYS == 90

    def age(**fields):
        return rotation_age(Secret(first_seen_at=now, **fields), now)

    assert (age(last_rotated_at=now - timedelta(days=10)).days, age(last_rotated_at=now).state) == (10, "ok")
    assert age(last_rotated_at=now - timedelta(days=75, hours=23)).state == "ok"
    assert age(last_rotated_at=now - timedelta(days=76)).state == "due-soon"  # 14 days left
    assert age(last_rotated_at=now - timedelta(days=90)).state == "due-soon"
    assert age(last_rotated_at=now - timedelta(days=90, seconds=1)).state == "overdue"
    never = rotation_age(Secret(first_seen_at=now - timedelta(days=200)), now)
    assert (never.days, never.state) == (200, "overdue")


def test_rows_are_coloured_by_age_and_badged_by_status(client, role_users, inventory):
    client.force_login(role_users["alice"])
    body = client.get(LIST, {"sort": "name"}).content.decode()
    rows = dict(re.findall(r'href="/inventory/[0-9a-f-]+/">([^<]*)</a>(.*?)</tr>', body, flags=re.S))
    assert 'inventory-age-ok"' in rows["app/db#password"] and ">10 d<" in rows["app/db#password"]
    assert 'inventory-age-due-soon"' in rows["dev/cache#token"] and ">80 d<" in rows["dev/cache#token"]
    assert 'inventory-age-overdue"' in rows["app/api#key"] and ">120 d<" in rows["app/api#key"]
    assert 'inventory-age-ok"' in rows["legacy/ftp#password"]  # never rotated, but only just seen
    assert "changed out of band" in rows["app/api#key"]
    assert "changed out of band" not in rows["app/db#password"]
    assert "Missing in provider</span>" in rows["legacy/ftp#password"]
    assert "Disabled</span>" in rows["dev/cache#token"]
    assert "badge" not in rows["app/db#password"]


def test_the_detail_page_shows_age_and_badges(client, role_users, inventory):
    client.force_login(role_users["alice"])
    body = client.get(detail(inventory["api"])).content.decode()
    assert 'inventory-age-overdue">120 days<' in body and "changed out of band" in body
    assert "Missing in provider</span>" in client.get(detail(inventory["old"])).content.decode()


# -- live versions -----------------------------------------------------------------------------------

def test_versions_unavailable_when_the_provider_cannot_be_reached(client, role_users, inventory):
    client.force_login(role_users["alice"])
    response = client.get(detail(inventory["db"]))
    assert response.status_code == 200
    assert "Versions unavailable: NetworkError" in response.content.decode()


def test_versions_unavailable_when_the_credentials_are_missing(client, role_users, inventory, monkeypatch):
    monkeypatch.delenv("SA_INVENTORY_TEST_TOKEN")
    client.force_login(role_users["alice"])
    response = client.get(detail(inventory["db"]))
    assert response.status_code == 200
    assert "Versions unavailable: AuthenticationFailed" in response.content.decode()


def test_a_misconfigured_provider_does_not_break_the_page(client, role_users):
    provider = Provider.objects.create(kind="vault", name="vault-broken", settings={})  # no address
    secret = Secret.objects.create(provider=provider, name="x/y#z")
    client.force_login(role_users["alice"])
    response = client.get(detail(secret))
    assert response.status_code == 200
    assert "Versions unavailable: Other" in response.content.decode()


def test_versions_are_read_live_and_never_a_value(client, role_users, vault, monkeypatch):
    monkeypatch.setenv("SA_INVENTORY_VAULT_TOKEN", vault.root.token)
    path = f"inventory/{uuid.uuid4().hex[:8]}"
    first, second = f"first-{uuid.uuid4().hex}", f"second-{uuid.uuid4().hex}"
    vault.root.secrets.kv.v2.create_or_update_secret(path, secret={"password": first})
    vault.root.secrets.kv.v2.create_or_update_secret(path, secret={"password": second})
    provider = Provider.objects.create(
        kind="vault", name="vault-live", settings={"address": vault.root.url},
        auth_reference={"method": "env", "variables": {"token": "SA_INVENTORY_VAULT_TOKEN"}})
    secret = Secret.objects.create(provider=provider, name=f"{path}#password")
    client.force_login(role_users["alice"])
    response = client.get(detail(secret))
    body = response.content.decode()
    assert response.status_code == 200 and "Versions unavailable" not in body
    versions = re.findall(r'<li class="py-1">\s*<code>([^<]*)</code>', body)
    assert versions == ["2", "1"]  # newest first
    assert first not in body and second not in body


# -- audit trail -------------------------------------------------------------------------------------

def test_the_audit_trail_is_shown_to_auditors_only(client, role_users, inventory):
    secret = inventory["db"]
    mine = audit.record("secret.retrieval", actor="system", provider="vault-prod", secret_name=secret.name)
    audit.record("secret.retrieval", actor="system", provider="vault-dev", secret_name=secret.name)
    audit.record("secret.retrieval", actor="system", provider="vault-prod", secret_name="app/api#key")
    client.force_login(role_users["dana"])
    body = client.get(detail(secret)).content.decode()
    assert "Audit trail" in body
    links = re.findall(r'href="/audit/([0-9a-f-]+)/"', body)
    assert links == [str(mine["uuid"])]
    client.force_login(role_users["alice"])
    body = client.get(detail(secret)).content.decode()
    assert "Audit trail" not in body and "/audit/" not in body


def test_the_audit_trail_shows_the_latest_twenty(client, role_users, inventory):
    secret = inventory["db"]
    for _ in range(25):
        audit.record("secret.retrieval", actor="system", provider="vault-prod", secret_name=secret.name)
    client.force_login(role_users["dana"])
    body = client.get(detail(secret)).content.decode()
    sequences = [int(n) for n in re.findall(r'href="/audit/[0-9a-f-]+/">#(\d+) ', body)]
    assert len(sequences) == 20 and sequences == sorted(sequences, reverse=True)
    assert max(sequences) - min(sequences) == 19


def test_the_reveal_button_needs_the_reveal_permission(client, role_users, inventory):
    client.force_login(role_users["alice"])
    reveal = reverse("providers:secret_reveal", args=[inventory["db"].uuid])
    assert reveal not in client.get(detail(inventory["db"])).content.decode()
    assign_perm("providers.reveal_secret", role_users["alice"], inventory["db"])
    assert reveal in client.get(detail(inventory["db"])).content.decode()
