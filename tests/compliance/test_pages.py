"""The compliance pages: who may open them, what they show, and how they answer bad input."""
import datetime as dt
from urllib.parse import quote

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance.catalog import FRAMEWORK_SLUGS, catalog

OVERVIEW = reverse("compliance:overview")
CROSSWALK = reverse("compliance:crosswalk")


def framework_url(slug):
    return reverse("compliance:framework", args=[slug])


def control_url(slug, control_id):
    return reverse("compliance:control_detail", args=[slug, control_id])


@pytest.fixture
def auditor(role_users, client_for, evidence):
    # Some data, so that the default period does not start before the first recorded data.
    evidence.login(role_users["dana"], days=400)
    return client_for(role_users["dana"])


PAGES = [OVERVIEW, CROSSWALK, framework_url("nist-800-53"), control_url("soc2", "CC6.2")]


@pytest.mark.parametrize("url", PAGES)
@pytest.mark.parametrize("username", ["alice", "bob", "charlie"])
def test_it_refuses_viewers_operators_and_approvers(url, username, role_users, client_for):
    assert client_for(role_users[username]).get(url).status_code == 403


@pytest.mark.parametrize("url", PAGES)
def test_it_refuses_people_without_a_role(url, mallory, client_for):
    assert client_for(mallory).get(url).status_code == 403


@pytest.mark.parametrize("url", PAGES)
def test_it_serves_auditors_and_administrators(url, role_users, client_for, evidence):
    evidence.login(role_users["erin"], days=400)
    assert client_for(role_users["dana"]).get(url).status_code == 200
    assert client_for(role_users["erin"]).get(url).status_code == 200


def test_it_sends_strangers_to_sign_in(client):
    answer = client.get(OVERVIEW)
    assert answer.status_code == 302 and "/accounts/login/" in answer["Location"]


def test_it_rejects_posts(auditor):
    assert auditor.post(OVERVIEW).status_code == 405


def test_the_overview_counts_each_framework_by_status(auditor, scenario):
    scenario("access_review_recent", "fail")
    answer = auditor.get(OVERVIEW)
    reports = {r["framework"]["slug"]: r for r in answer.context["reports"]}
    assert list(reports) == list(FRAMEWORK_SLUGS)
    for slug, report in reports.items():
        assert report["summary"]["total"] == len(catalog()[slug].controls)
        assert sum(report["summary"][s] for s in ("pass", "partial", "fail", "not_applicable")) == \
            report["summary"]["total"]
    # AC-2 / CC6.2 / A.5.18 / 164.308(a)(1)(ii)(D) rest on the failing access review.
    assert all(reports[slug]["summary"]["fail"] >= 1 for slug in FRAMEWORK_SLUGS)
    assert b'data-framework="hipaa"' in answer.content


def test_the_default_period_is_the_last_30_days(auditor):
    form = auditor.get(OVERVIEW).context["form"]
    today = timezone.localdate()
    assert form.cleaned_data["start"] == today - dt.timedelta(days=29)
    assert form.cleaned_data["end"] == today


@pytest.mark.parametrize("slug", FRAMEWORK_SLUGS)
def test_every_framework_page_lists_its_controls_with_statuses(slug, auditor):
    answer = auditor.get(framework_url(slug))
    assert answer.status_code == 200
    shown = [c["id"] for c in answer.context["controls"]]
    assert shown == [c.id for c in catalog()[slug].controls]
    assert answer.content.count(b'class="compliance-control"') == len(shown)
    assert b"compliance-status" in answer.content


def test_the_framework_page_filters_by_status(auditor, scenario):
    scenario("access_review_recent", "fail")
    everything = auditor.get(framework_url("nist-800-53")).context["controls"]
    failing = auditor.get(framework_url("nist-800-53") + "?status=fail").context["controls"]
    assert failing and all(c["status"] == "fail" for c in failing)
    assert "AC-2" in [c["id"] for c in failing]
    assert len(failing) < len(everything)


def test_the_iso_page_shows_the_2013_numbering_on_request(auditor):
    answer = auditor.get(framework_url("iso27001") + "?edition=2013")
    shown = {c["id"]: c["shown_id"] for c in answer.context["controls"]}
    assert shown["A.5.33"] == "A.18.1.3"
    assert shown["A.8.24"] == "A.10.1.1, A.10.1.2"
    assert shown["A.8.16"] == "(new in 2022)"
    default = auditor.get(framework_url("iso27001")).context["controls"]
    assert default[0]["shown_id"] == default[0]["id"] == "A.5.15"


def test_the_control_page_shows_rule_figures_and_drilldown(auditor, scenario):
    scenario("rotation_within_interval", "partial")
    answer = auditor.get(control_url("nist-800-53", "IA-5"))
    assert answer.status_code == 200
    checks = {c["slug"]: c for c in answer.context["checks"]}
    assert list(checks) == ["rotation_within_interval", "generator_strength"]
    body = answer.content.decode()
    assert "at least 95.0% are within their interval" in body  # the rule, with the thresholds used
    assert checks["rotation_within_interval"]["figures"]["overdue"] == 1
    assert checks["rotation_within_interval"]["drilldown"]["rows"][0][1].startswith("app/secret-")
    assert "Overdue secrets" in body and 'data-status="partial"' in body


def test_the_control_page_shows_a_correction_note(auditor):
    answer = auditor.get(control_url("soc2", "CC6.2"))
    assert b'data-testid="control-note"' in answer.content
    assert "audit logging" in answer.context["control"]["note"]


def test_the_control_page_handles_hipaa_citations(auditor):
    url = control_url("hipaa", "§164.312(a)(2)(ii)")
    assert quote("§") in url
    answer = auditor.get(url)
    assert answer.status_code == 200
    assert answer.context["control"]["title"] == "Emergency access procedure (R)"


def test_the_crosswalk_lists_every_control_each_check_evidences(auditor):
    answer = auditor.get(CROSSWALK)
    rows = {row["slug"]: dict(row["controls"]) for row in answer.context["rows"]}
    audit_chain = rows["audit_chain_verified"]
    assert [c.id for c in audit_chain["nist-800-53"]] == ["AU-9"]
    assert [c.id for c in audit_chain["iso27001"]] == ["A.8.15", "A.5.33"]
    assert "§164.312(c)(1)" in [c.id for c in audit_chain["hipaa"]]
    assert all(any(controls for controls in row.values()) for row in rows.values())


@pytest.mark.parametrize("url", [framework_url("pci-dss"), control_url("pci-dss", "1.1")])
def test_an_unknown_framework_is_a_404_with_a_message(url, auditor):
    answer = auditor.get(url)
    assert answer.status_code == 404
    assert b"No framework &#x27;pci-dss&#x27;" in answer.content and b"nist-800-53" in answer.content


def test_an_unknown_control_is_a_404_with_a_message(auditor):
    answer = auditor.get(control_url("nist-800-53", "ZZ-99"))
    assert answer.status_code == 404
    assert b"has no control" in answer.content


def _errors(answer):
    return {name: list(errors) for name, errors in answer.context["form"].errors.items()}


@pytest.mark.parametrize("url", [OVERVIEW, framework_url("soc2"), control_url("soc2", "CC8.1")])
def test_an_end_before_the_start_is_a_form_error(url, auditor):
    today = timezone.localdate()
    answer = auditor.get(url, {"start": today.isoformat(), "end": (today - dt.timedelta(days=3)).isoformat()})
    assert answer.status_code == 400
    assert _errors(answer) == {"end": ["The period ends before it starts."]}
    assert b'data-testid="filter-error"' in answer.content
    assert "reports" not in answer.context and "report" not in answer.context


def test_a_period_in_the_future_is_a_form_error(auditor):
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    answer = auditor.get(OVERVIEW, {"end": tomorrow.isoformat()})
    assert answer.status_code == 400
    assert "is in the future" in _errors(answer)["end"][0]


def test_a_period_before_any_data_is_a_form_error(auditor):
    answer = auditor.get(framework_url("hipaa"), {"start": "2000-01-01"})
    assert answer.status_code == 400
    assert "before the first recorded data" in _errors(answer)["start"][0]


def test_a_young_installation_s_default_period_starts_at_its_first_data(role_users, client_for):
    client = client_for(role_users["dana"])  # signing in is the first data there is
    answer = client.get(OVERVIEW)
    assert answer.status_code == 200
    assert answer.context["form"].cleaned_data["start"] == timezone.localdate()
    yesterday = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    assert client.get(OVERVIEW, {"start": yesterday}).status_code == 400


@pytest.mark.parametrize("params", [{"start": "yesterday"}, {"end": "2026-02-30"}, {"status": "great"},
                                    {"edition": "2005"}])
def test_malformed_filters_are_form_errors(params, auditor):
    answer = auditor.get(framework_url("iso27001"), params)
    assert answer.status_code == 400
    assert _errors(answer)


def test_a_valid_past_period_is_reported(auditor, role_users, evidence):
    evidence.access_review(role_users["erin"], days=50)
    start = (timezone.localdate() - dt.timedelta(days=60)).isoformat()
    end = (timezone.localdate() - dt.timedelta(days=40)).isoformat()
    answer = auditor.get(framework_url("nist-800-53"), {"start": start, "end": end})
    assert answer.status_code == 200
    assert answer.context["report"]["period"] == {"start": start, "end": end}
    ac2 = next(c for c in answer.context["controls"] if c["id"] == "AC-2")
    assert ac2["status"] != "not_applicable"


def test_the_navigation_links_to_the_overview(auditor):
    answer = auditor.get(CROSSWALK)
    assert any(item["label"] == "Compliance" and item["url"] == OVERVIEW for item in answer.context["nav_items"])
