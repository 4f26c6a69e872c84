"""The audit log pages: who may open them, the filters, pagination, one event's chain position, the badge."""
import uuid
from datetime import UTC, datetime
from unittest import mock

import django_rq
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit import recorder
from audit.models import AuditEvent, ChainVerification
from audit.recorder import record
from tests.audit.tampering import tamper

pytestmark = pytest.mark.django_db
LIST = reverse("audit:event_list")


def record_at(when, event_type, **fields):
    with mock.patch.object(recorder.timezone, "now", return_value=when):
        return record(event_type, **fields)


def detail_url(event):
    return reverse("audit:event_detail", args=[event["uuid"] if isinstance(event, dict) else event.uuid])


@pytest.fixture
def auditor(client, role_users):
    client.force_login(role_users["dana"])
    return client


@pytest.fixture
def three_events(role_users):
    """Three events a day apart, by different actors (recorded after the login events of the test)."""
    return [
        record_at(datetime(2024, 5, 1, 10, 0, tzinfo=UTC), "secret.retrieval", actor=role_users["dana"],
                  provider="AWS-prod", secret_name="app/db-password", details={"note": "alpha"}),
        record_at(datetime(2024, 5, 2, 12, 30, 15, tzinfo=UTC), "rotation.requested", actor=role_users["bob"],
                  outcome="failure", failure_reason="provider unreachable", provider="vault",
                  secret_name="app/api-key", details={"ticket": "CHG-42"}),
        record_at(datetime(2024, 5, 3, 8, 0, tzinfo=UTC), "provider.created", actor="system", provider="gcp",
                  secret_name="gcp/service-account", details={"region": "europe-west1"}),
    ]


def listed_secrets(client, params):
    response = client.get(LIST, params)
    assert response.status_code == 200
    return {event.secret_name for event in response.context["page"].object_list if event.secret_name}


def test_auditor_sees_the_list_with_links_to_each_event(auditor, three_events):
    response = auditor.get(LIST)
    assert response.status_code == 200
    body = response.content.decode()
    for event in three_events:
        assert f'href="{detail_url(event)}"' in body
    assert "<code>rotation.requested</code>" in body
    assert '<span class="badge text-bg-danger">failure</span>' in body
    assert "2024-05-02 12:30:15" in body
    assert [e.sequence for e in response.context["page"].object_list][:3] == [e["sequence"] for e in
                                                                            reversed(three_events)]


def test_administrator_sees_the_list_too(client, role_users):
    client.force_login(role_users["erin"])
    assert client.get(LIST).status_code == 200


def test_viewer_is_refused_list_detail_export_and_verify(client, role_users):
    event = record("secret.retrieval", actor="system", secret_name="app/x")
    client.force_login(role_users["alice"])
    assert client.get(LIST).status_code == 403
    assert client.get(detail_url(event)).status_code == 403
    assert client.get(reverse("audit:export_csv")).status_code == 403
    assert client.get(reverse("audit:export_jsonl")).status_code == 403
    assert client.post(reverse("audit:verify_now")).status_code == 403
    assert not AuditEvent.objects.filter(event_type="audit.exported").exists()


@pytest.mark.parametrize(("params", "expected"), [
    ({}, {"app/db-password", "app/api-key", "gcp/service-account"}),
    ({"since": "2024-05-02"}, {"app/api-key", "gcp/service-account"}),
    ({"until": "2024-05-02"}, {"app/db-password", "app/api-key"}),  # the whole of the day named
    ({"since": "2024-05-02T12:30", "until": "2024-05-02T12:30"}, {"app/api-key"}),  # the whole minute
    ({"since": "2024-05-02T12:31"}, {"gcp/service-account"}),
    ({"actor": "DAN"}, {"app/db-password"}),
    ({"event_type": "rotation.requested"}, {"app/api-key"}),
    ({"outcome": "failure"}, {"app/api-key"}),
    ({"provider": "aws-PROD"}, {"app/db-password"}),
    ({"provider": "aws"}, set()),  # exact, not a substring
    ({"secret_name": "API"}, {"app/api-key"}),
    ({"q": "chg-42"}, {"app/api-key"}),
    ({"q": "europe"}, {"gcp/service-account"}),
    ({"outcome": "success", "since": "2024-05-01T10:00", "until": "2024-05-02"}, {"app/db-password"}),
])
def test_each_filter_narrows_the_list(auditor, three_events, params, expected):
    assert listed_secrets(auditor, params) == expected


def test_details_search_finds_non_ascii_text(auditor):
    record("secret.retrieval", actor="system", secret_name="app/unicode", details={"note": "Größe prüfen"})
    record("secret.retrieval", actor="system", secret_name="app/other", details={"note": "nothing"})
    assert listed_secrets(auditor, {"q": "größe"}) == {"app/unicode"}


@pytest.mark.parametrize(("params", "error"), [
    ({"since": "last tuesday"}, "YYYY-MM-DD"),
    ({"until": "2024-13-45"}, "YYYY-MM-DD"),
    ({"since": "2024-05-01T25:00"}, "YYYY-MM-DD"),
    ({"event_type": "secret.exfiltrated"}, "Select a valid choice"),
    ({"outcome": "maybe"}, "Select a valid choice"),
])
def test_a_malformed_filter_shows_an_error_and_no_rows(auditor, three_events, params, error):
    response = auditor.get(LIST, params)
    assert response.status_code == 200
    assert not response.context["filters_valid"]
    assert list(response.context["page"].object_list) == []
    body = response.content.decode()
    assert 'data-testid="filter-error"' in body and error in body
    assert "Fix the filter above" in body
    assert "app/db-password" not in body


def test_pagination_keeps_the_filters(auditor):
    for i in range(55):
        record("secret.retrieval", actor="system", secret_name=f"app/paged-{i}")
    record("provider.created", actor="system", secret_name="app/not-a-retrieval")
    response = auditor.get(LIST, {"event_type": "secret.retrieval", "secret_name": "paged"})
    body = response.content.decode()
    assert 'href="?event_type=secret.retrieval&amp;secret_name=paged&amp;page=2"' in body
    second = auditor.get(LIST, {"event_type": "secret.retrieval", "secret_name": "paged", "page": "2"})
    rows = list(second.context["page"].object_list)
    assert len(rows) == 5
    assert {event.event_type for event in rows} == {"secret.retrieval"}
    assert 'href="?event_type=secret.retrieval&amp;secret_name=paged&amp;page=1"' in second.content.decode()


def test_export_links_carry_the_filters(auditor, three_events):
    body = auditor.get(LIST, {"outcome": "failure"}).content.decode()
    assert f'href="{reverse("audit:export_csv")}?outcome=failure"' in body
    assert f'href="{reverse("audit:export_jsonl")}?outcome=failure"' in body


def test_list_query_count_does_not_grow_with_the_events(auditor):
    def count_queries():
        with CaptureQueriesContext(connection) as captured:
            assert auditor.get(LIST, {"outcome": "success"}).status_code == 200
        return len(captured)

    record("secret.retrieval", actor="system", secret_name="app/first")
    count_queries()
    few = count_queries()
    for i in range(30):
        record("secret.retrieval", actor="system", secret_name=f"app/more-{i}")
    assert count_queries() == few


def test_detail_shows_every_field_and_its_chain_position(auditor, three_events):
    first, middle, last = (AuditEvent.objects.get(uuid=e["uuid"]) for e in three_events)
    response = auditor.get(detail_url(middle))
    assert response.status_code == 200
    body = response.content.decode()
    for text in ("rotation.requested", "provider unreachable", "vault", "app/api-key", "bob", "2024-05-02 12:30:15",
                 str(middle.uuid), middle.prev_hash, middle.hash, "&quot;ticket&quot;: &quot;CHG-42&quot;"):
        assert text in body, text
    assert middle.prev_hash == first.hash
    assert f'rel="prev" href="{detail_url(first)}"' in body
    assert f'rel="next" href="{detail_url(last)}"' in body
    assert "Content matches its hash" in body
    assert "Linked to the previous event" in body


def test_detail_of_the_newest_event_has_no_next_link(auditor, three_events):
    body = auditor.get(detail_url(three_events[-1])).content.decode()
    assert 'rel="next"' not in body
    assert "Latest event" in body


def test_detail_of_an_unknown_event_is_404(auditor):
    assert auditor.get(reverse("audit:event_detail", args=[uuid.uuid4()])).status_code == 404
    assert auditor.get("/audit/not-a-uuid/").status_code == 404


def test_detail_flags_a_tampered_row(auditor, three_events):
    middle = three_events[1]
    tamper(("UPDATE audit_auditevent SET details = %s WHERE sequence = %s",
            ['["<i>rewritten</i>"]', middle["sequence"]]))
    response = auditor.get(detail_url(middle))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Content does not match its hash" in body
    assert "&lt;i&gt;rewritten&lt;/i&gt;" in body
    # Its neighbours are intact: the content check is per row.
    assert "Content matches its hash" in auditor.get(detail_url(three_events[2])).content.decode()


def test_untrusted_text_is_escaped_in_list_and_detail(auditor):
    event = record("secret.retrieval", actor="system", secret_name="<script>alert('name')</script>",
                   target=("providers.secret", "1", "<img src=x onerror=alert(1)>"),
                   details={"note": "</pre><script>alert('details')</script>"})
    listing = auditor.get(LIST).content.decode()
    assert "<img src=x onerror=alert(1)>" not in listing
    assert "&lt;img src=x onerror=alert(1)&gt;" in listing
    event_body = auditor.get(detail_url(event)).content.decode()
    for raw in ("<script>alert('name')</script>", "<img src=x", "</pre><script>"):
        assert raw not in event_body
    assert "&lt;script&gt;alert(&#x27;name&#x27;)&lt;/script&gt;" in event_body
    assert "&lt;/pre&gt;&lt;script&gt;alert(&#x27;details&#x27;)&lt;/script&gt;" in event_body


def test_badge_says_not_verified_yet(auditor):
    body = auditor.get(LIST).content.decode()
    assert "Chain not verified yet" in body and "text-bg-secondary" in body


def test_badge_says_verified_with_time_and_count(auditor):
    ChainVerification.objects.create(ok=True, events_checked=1234, last_sequence=1234)
    verification = ChainVerification.objects.get()
    body = auditor.get(LIST).content.decode()
    assert "Chain verified" in body and "1234 events" in body
    assert f"{verification.verified_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC" in body


def test_badge_says_broken_with_position_and_problem(auditor, three_events):
    ChainVerification.objects.create(ok=False, events_checked=6, last_sequence=6, first_broken_sequence=7,
                                     problem="edited", message="event #7's content no longer matches its hash")
    body = auditor.get(detail_url(three_events[0])).content.decode()
    assert "Chain broken at #7 (edited)" in body
    assert "text-bg-danger" in body


def test_buttons_follow_permissions(client, role_users):
    client.force_login(role_users["dana"])
    auditor_page = client.get(LIST).content.decode()
    assert "Verify now" in auditor_page and "Export CSV" in auditor_page and "Export JSONL" in auditor_page
    client.force_login(role_users["erin"])
    admin_page = client.get(LIST).content.decode()
    assert "Verify now" in admin_page
    assert "Export CSV" not in admin_page and "Export JSONL" not in admin_page


def test_verify_now_enqueues_the_verification_job(auditor, django_capture_on_commit_callbacks):
    queue = django_rq.get_queue("default")
    before = set(queue.job_ids)
    with django_capture_on_commit_callbacks(execute=True):
        response = auditor.post(reverse("audit:verify_now"), follow=True)
    assert response.redirect_chain == [(LIST, 302)]
    assert "Verification queued" in response.content.decode()
    new = [queue.fetch_job(job_id) for job_id in set(queue.job_ids) - before]
    try:
        assert [job.func_name for job in new] == ["audit.services.verify_audit_chain_job"]
    finally:
        for job in new:
            job.delete()


def test_administrator_may_verify_too(client, role_users, django_capture_on_commit_callbacks):
    client.force_login(role_users["erin"])
    queue = django_rq.get_queue("default")
    before = set(queue.job_ids)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse("audit:verify_now")).status_code == 302
    new = set(queue.job_ids) - before
    for job_id in new:
        queue.fetch_job(job_id).delete()
    assert len(new) == 1


def test_verify_now_rejects_get(auditor):
    queue = django_rq.get_queue("default")
    before = len(queue)
    assert auditor.get(reverse("audit:verify_now")).status_code == 405
    assert len(queue) == before
