"""An Auditor generates a SOC 2 report for the last 30 days in the browser (a real worker on the "reports" queue
computes it) and downloads the PDF and the OSCAL JSON: the PDF names every control, the OSCAL parses.
"""
import datetime as dt
import io
import json

import pytest
from django.utils import timezone
from playwright.sync_api import expect
from pypdf import PdfReader

from compliance.catalog import get_framework
from providers.models import Secret
from tests.e2e.pages import nav
from tests.rotation.conftest import read

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
REPORT_TIMEOUT = 90_000  # ms: queued, picked up by the worker, every evidence check run, then the page reloads


def download(page, link_name):
    """Click a download link; the file's bytes."""
    with page.expect_download() as started:
        page.get_by_role("link", name=link_name, exact=True).click()
    return started.value.path().read_bytes()


def test_an_auditor_generates_and_downloads_a_soc2_report(sign_in, artifacts, jobs_worker, secret, vault, kv_mount,
                                                          role_users):
    # The inventory has known the secret for 45 days, so that the last 30 days are a period with data.
    Secret.objects.filter(pk=secret.pk).update(first_seen_at=timezone.now() - dt.timedelta(days=45))
    today = timezone.localdate()
    value = read(vault, kv_mount, "app/db")["data"]["password"]

    dana = sign_in("dana")
    nav(dana, "Compliance")
    artifacts.shot(dana, "compliance-overview")
    dana.get_by_role("link", name="Report snapshots").click()
    dana.get_by_role("link", name="Generate report").first.click()
    dana.get_by_label("Framework").select_option(value="soc2")
    # The form offers the last 30 days, today included.
    expect(dana.get_by_label("From")).to_have_value((today - dt.timedelta(days=29)).isoformat())
    expect(dana.get_by_label("To (inclusive)")).to_have_value(today.isoformat())
    artifacts.shot(dana, "generate-form")
    dana.get_by_role("button", name="Generate report").click()
    expect(dana.get_by_role("alert")).to_contain_text("Report queued")
    artifacts.shot(dana, "report-queued")

    # The page follows the job by itself, then reloads once with the results and the downloads.
    expect(dana.get_by_role("link", name="PDF", exact=True)).to_be_visible(timeout=REPORT_TIMEOUT)
    expect(dana.locator("#snapshot-status")).to_have_attribute("data-status", "ready")
    controls = [control.id for control in get_framework("soc2").controls]
    expect(dana.locator(".snapshot-control td:first-child")).to_have_text(controls)  # every control, in order
    artifacts.shot(dana, "report-ready")

    pdf_text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(download(dana, "PDF"))).pages)
    missing = [control for control in controls if control not in pdf_text]
    assert not missing, f"controls missing from the PDF: {missing}"

    oscal = json.loads(download(dana, "OSCAL"))
    findings = oscal["assessment-results"]["results"][0]["findings"]
    assert len(findings) == len(controls)  # one finding per control
    artifacts.shot(dana, "after-downloads")

    artifacts.assert_never_shown(value, vault.root.token)
