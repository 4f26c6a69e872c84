"""Snapshot pages: the list, the "Generate report" form and its bad input, a snapshot's live page and downloads."""
import datetime as dt

import django_rq
import pytest
from django.urls import reverse
from django.utils import timezone

from compliance.exports import FORMATS
from compliance.models import ComplianceReport
from compliance.snapshots import claim, export_snapshot, generate_snapshot_now
from tests.compliance.exports_fixtures import pdf_pages, report_period, seed_report_data

LIST = reverse("compliance:snapshot_list")
CREATE = reverse("compliance:snapshot_create")
pytestmark = pytest.mark.django_db


@pytest.fixture
def data(role_users):
    seed_report_data(role_users)
    return role_users


@pytest.fixture
def ready(data):
    return generate_snapshot_now("nist-800-53", **report_period(), actor=data["dana"])


def _form(framework="nist-800-53", start=None, end=None):
    period = report_period()
    return {"framework": framework, "period_start": (start or period["period_start"]).isoformat(),
            "period_end": (end or period["period_end"]).isoformat()}


def test_an_auditor_generates_a_report_from_the_form(client_for, data, django_capture_on_commit_callbacks):
    queue = django_rq.get_queue("reports")
    queue.empty()
    client = client_for(data["dana"])
    assert 'name="framework"' in client.get(CREATE).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(CREATE, _form("iso27001"))
    report = ComplianceReport.objects.get()
    assert response.status_code == 302 and response["Location"] == report.get_absolute_url()
    assert (report.framework, report.status, report.generated_by_name) == ("iso27001", "queued", "dana")
    assert [job.args for job in queue.jobs] == [(report.pk,)]
    queue.empty()


BAD_INPUT = {
    "unknown framework": ({"framework": "pci-dss"}, "Select a valid choice"),
    "end before start": ({"start": -1, "end": -5}, "The period ends before it starts."),
    "future": ({"start": -1, "end": 3}, "is in the future"),
    "before any data": ({"start": -2000, "end": -1990}, "before the first recorded data"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_a_form_error_and_nothing_is_queued(client_for, data, case):
    change, message = BAD_INPUT[case]
    today = timezone.localdate()
    form = _form(change.get("framework", "nist-800-53"),
                 today + dt.timedelta(days=change["start"]) if "start" in change else None,
                 today + dt.timedelta(days=change["end"]) if "end" in change else None)
    response = client_for(data["dana"]).post(CREATE, form)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ComplianceReport.objects.exists()


def test_only_holders_of_the_add_permission_may_generate(client_for, data):
    for name in ("alice", "erin"):  # Viewer; Administrator (may view reports, not generate them)
        client = client_for(data[name])
        assert client.get(CREATE).status_code == 403
        assert client.post(CREATE, _form()).status_code == 403
    assert not ComplianceReport.objects.exists()
    assert client_for(data["erin"]).get(LIST).status_code == 200
    assert client_for(data["alice"]).get(LIST).status_code == 403


def test_the_list_shows_each_snapshot_and_its_status(client_for, data, ready, django_assert_max_num_queries):
    running = ComplianceReport.objects.create(framework="soc2", **report_period(), generated_by_name="dana")
    claim(running.pk)
    ComplianceReport.objects.filter(pk=running.pk).update(progress_done=4, progress_total=9)
    newer = generate_snapshot_now("nist-800-53", **report_period(), actor=data["dana"])
    client = client_for(data["dana"])
    client.get(LIST)  # sessions and permissions cached, as on any later page
    # 14: the page's own queries plus one for the session's second-factor device (django-otp's OTPMiddleware).
    with django_assert_max_num_queries(14):
        page = client.get(LIST).content.decode()
    assert page.count('class="snapshot-row"') == 3
    assert 'data-status="superseded"' in page and 'data-status="ready"' in page
    assert "Running 4/9" in page and "NIST SP 800-53 Rev. 5" in page and "SOC 2" in page
    assert newer.sha256[:12] in page and ready.sha256[:12] in page
    assert "Generate report" in page
    for _ in range(5):
        generate_snapshot_now("hipaa", **report_period(), actor=data["dana"])
    with django_assert_max_num_queries(14):  # the same number of queries however many snapshots
        assert client.get(LIST).content.decode().count('class="snapshot-row"') == 8


def test_a_running_snapshot_page_polls_its_progress_until_it_is_final(client_for, data):
    report = ComplianceReport.objects.create(framework="hipaa", **report_period(), generated_by_name="dana")
    claim(report.pk)
    ComplianceReport.objects.filter(pk=report.pk).update(progress_done=2, progress_total=8)
    client = client_for(data["dana"])
    status_url = reverse("compliance:snapshot_status", args=[report.uuid])
    page = client.get(report.get_absolute_url()).content.decode()
    assert f'hx-get="{status_url}"' in page and "2 of 8 evidence checks done" in page
    assert '<progress class="w-100 d-block" max="100" value="25">' in page
    assert "snapshot-download" not in page
    ComplianceReport.objects.filter(pk=report.pk).update(status="ready", progress_done=8, claimed_until=None)
    final = client.get(status_url, headers={"HX-Request": "true"})
    assert final["HX-Refresh"] == "true" and "hx-get" not in final.content.decode()


def test_a_ready_snapshot_page_offers_every_download_to_exporters_only(client_for, data, ready):
    page = client_for(data["dana"]).get(ready.get_absolute_url()).content.decode()
    assert page.count("snapshot-download") == len(FORMATS) and ready.sha256 in page
    assert "hx-get" not in page and "AC-2" in page
    admin_page = client_for(data["erin"]).get(ready.get_absolute_url()).content.decode()
    assert "snapshot-download" not in admin_page and ready.sha256 in admin_page


@pytest.mark.parametrize("export_format", sorted(FORMATS))
def test_downloads_are_byte_identical_every_time(client_for, data, ready, export_format):
    client = client_for(data["dana"])
    url = f"{reverse('compliance:snapshot_download', args=[ready.uuid])}?format={export_format}"
    first = client.get(url)
    assert first.status_code == 200 and first["Content-Type"] == FORMATS[export_format].content_type
    assert first["Content-Disposition"].startswith('attachment; filename="compliance-nist-800-53-')
    generate_snapshot_now("nist-800-53", **report_period(), actor=data["dana"])  # supersedes it
    assert client.get(url).content == first.content == export_snapshot(ready, export_format, actor="system").content


def test_the_pdf_download_is_the_auditors_report(client_for, data, ready):
    url = f"{reverse('compliance:snapshot_download', args=[ready.uuid])}?format=pdf"
    pages = pdf_pages(client_for(data["dana"]).get(url).content)
    assert ready.sha256 in pages[0] and "dana" in pages[0] and "NIST SP 800-53 Rev. 5" in pages[0]
    assert f"Page 1 of {len(pages)}" in pages[0]


def test_downloads_refuse_the_wrong_people_formats_and_states(client_for, data, ready, mallory):
    url = reverse("compliance:snapshot_download", args=[ready.uuid])
    assert client_for(data["erin"]).get(f"{url}?format=pdf").status_code == 403
    assert client_for(mallory).get(f"{url}?format=pdf").status_code == 404
    client = client_for(data["dana"])
    bad = client.get(f"{url}?format=docx")
    assert bad.status_code == 400 and "Unknown export format" in bad.content.decode()
    queued = ComplianceReport.objects.create(framework="soc2", **report_period(), generated_by_name="dana")
    answer = client.get(f"{reverse('compliance:snapshot_download', args=[queued.uuid])}?format=pdf", follow=True)
    assert answer.redirect_chain == [(queued.get_absolute_url(), 302)]
    assert "downloads open once it is ready" in answer.content.decode()
