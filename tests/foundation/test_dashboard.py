"""The dashboard home: figures per role that link to lists of exactly that many rows, and what each role sees."""
import pytest

from tests.foundation.dashboard_data import EXPECTED, EXPECTED_VAULT
from tests.foundation.dashboard_page import get_home, read, values

pytestmark = pytest.mark.django_db

COUNTS = ("secrets", "overdue", "never-rotated", "drift", "missing")
ROTATIONS = ("pending", "running", "attention", "failed")


def home(client, user):
    return read(get_home(client, user))


def expected(keys, table=EXPECTED):
    return {key: table[key] for key in keys}


@pytest.mark.parametrize("name", ["alice", "bob", "charlie", "dana", "erin"])
def test_every_role_reads_the_whole_inventory_and_every_rotation(client, role_users, scenario, name):
    page = home(client, role_users[name])
    shown = values(page)
    assert {key: shown[key] for key in COUNTS + ROTATIONS} == expected(COUNTS + ROTATIONS)
    assert page.parts == {"aws-prod": "/inventory/?provider=aws-prod", "vault-dev": "/inventory/?provider=vault-dev"}


@pytest.mark.parametrize("name", ["alice", "bob", "charlie", "dana", "erin"])
def test_provider_health_shows_to_every_role(client, role_users, scenario, name):
    page = home(client, role_users[name])
    assert values(page)["sync"] == EXPECTED["sync"]
    assert page.figures["sync"]["href"] == "/providers/?sync=problem"


@pytest.mark.parametrize(("name", "sees_chain"), [("alice", False), ("bob", False), ("charlie", False),
                                                  ("dana", True), ("erin", True)])
def test_the_audit_chain_figure_shows_to_those_who_read_the_audit_log(client, role_users, scenario, name, sees_chain):
    page = home(client, role_users[name])
    assert ("chain" in page.figures) is sees_chain
    if sees_chain:
        assert page.figures["chain"]["value"] == "Intact"
        assert page.figures["chain"]["href"] == "/audit/?event_type=audit.chain_verified"


def test_the_chain_figure_says_when_it_was_verified_or_that_it_is_broken(client, role_users, fresh_snapshot):
    from tests.compliance.evidence import Evidence

    client.force_login(role_users["dana"])
    assert "Not verified" in client.get("/").content.decode()
    verification = Evidence().verification(ok=False, days=0.1)
    verification.refresh_from_db()
    page = client.get("/").content.decode()
    assert read_value(page, "chain") == "Broken" and "first broken link #1" in page
    assert verification.verified_at.strftime("%Y-%m-%d %H:%M") + " UTC" in page


def read_value(html, key):
    from tests.foundation.dashboard_page import Page

    page = Page()
    page.feed(html)
    return page.figures[key]["value"]


def test_a_one_provider_grant_sees_that_providers_figures_only(client, vault_viewer):
    page = home(client, vault_viewer)
    shown = values(page)
    assert {key: shown[key] for key in EXPECTED_VAULT} == EXPECTED_VAULT
    assert page.parts == {"vault-dev": "/inventory/?provider=vault-dev"}
    assert "chain" not in page.figures


def test_nothing_of_another_provider_reaches_a_one_provider_grant(client, vault_viewer):
    client.force_login(vault_viewer)
    html = client.get("/").content.decode()
    for name in ("aws-prod", "gcp-stale", "db/p", "staging"):
        assert name not in html


def test_an_account_without_access_sees_no_figures(client, mallory, scenario):
    response = get_home(client, mallory)
    assert read(response).figures == {} and "no access to any section yet" in response.content.decode()


@pytest.mark.parametrize("name", ["alice", "bob", "charlie", "dana", "erin"])
def test_it_renders_with_an_empty_database(client, role_users, fresh_snapshot, name):
    page = home(client, role_users[name])
    assert all(value == 0 for value in values(page).values())
    assert set(page.charts) == {"chart-rotations", "chart-age", "chart-overdue-provider", "chart-overdue-environment"}
    assert all(chart.bars == [] for chart in page.charts.values())
    assert page.charts["chart-rotations"].rows[0][1:] == [("0", ""), ("0", "")]


def test_the_home_page_answers_get_only(client, role_users):
    client.force_login(role_users["alice"])
    assert client.post("/").status_code == 405


# ---------------------------------------------------------------- every figure leads to its list


def listed(client, href):
    response = client.get(href)
    assert response.status_code == 200, href
    return response.context["page"].paginator.count


def test_every_headline_figure_links_to_a_list_of_exactly_that_many(client, role_users, scenario):
    page = home(client, role_users["erin"])
    counted = values(page)
    assert set(counted) == set(EXPECTED)
    for key, value in counted.items():
        assert listed(client, page.figures[key]["href"]) == value, key


def test_every_provider_part_links_to_its_secrets(client, role_users, scenario):
    page = home(client, role_users["alice"])
    assert {name: listed(client, href) for name, href in page.parts.items()} == {"aws-prod": 6, "vault-dev": 3}


def test_a_one_provider_grants_figures_link_to_lists_of_exactly_that_many(client, vault_viewer):
    page = home(client, vault_viewer)
    for key, value in values(page).items():
        assert listed(client, page.figures[key]["href"]) == value, key


def test_the_chain_figure_links_to_the_verifications_in_the_audit_log(client, role_users, scenario):
    page = home(client, role_users["dana"])
    response = client.get(page.figures["chain"]["href"])
    assert response.status_code == 200
    assert response.context["filterset"].form.cleaned_data["event_type"] == "audit.chain_verified"


def test_the_pending_figure_gives_the_oldest_requests_age(client, role_users, scenario):
    client.force_login(role_users["alice"])
    assert "oldest waiting 2 days" in client.get("/").content.decode()


def test_figures_that_need_attention_say_so_in_text_not_colour_alone(client, role_users, scenario):
    client.force_login(role_users["alice"])
    html = client.get("/").content.decode()
    # overdue, drift, attention, failed and sync are above zero in the scenario
    assert html.count('<span class="visually-hidden"> (needs attention)</span>') == 5
    assert html.count("figure-alert-icon") == 5
