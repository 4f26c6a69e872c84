"""Usability and accessibility of the main pages in a real browser (issue 9): they fit 1280 px and 768 px windows
without page-level sideways scrolling, every form field is labelled, Tab reaches the navigation and each page's
primary action with a visible focus, no status is told by colour alone, and times are in the browser's zone.

Each test walks every page and reports all the problems it found, so one run shows everything to fix.
"""
import datetime as dt

import django_rq
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from providers.models import Secret
from providers.sync import sync_provider
from rotation.engine import run_rotation
from rotation.models import RotationRequest
from rotation.services import decide_rotation, request_rotation
from tests.e2e import usability
from tests.e2e.pages import nav
from tests.rotation.conftest import write

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
WIDTHS = {"1280": {"width": 1280, "height": 800}, "768": {"width": 768, "height": 1024}}
# A real team's long path: long names must wrap, not push the page sideways.
LONG_PATH = "platform/payments-settlement/eu-west-1/production/settlement-batch-reconciliation-service"


PROBES = """() => {
    document.querySelector("main").insertAdjacentHTML("beforeend", '<input name="probe">'
        + '<span class="badge text-bg-danger"></span><div id="probe-wide"></div>'
        + '<table><tr><td id="probe-cell">reconciliation</td></tr></table>');
    Object.assign(document.getElementById("probe-wide").style, {width: "3000px", height: "1px"});
    Object.assign(document.getElementById("probe-cell").style, {width: "2em", wordBreak: "break-all"});
}"""


@pytest.fixture
def pages(secret, vault, kv_mount, vault_provider, role_users):
    """The main pages as (name, user, path, primary action), over data the real services made: a succeeded run
    with every step, a request waiting for approval, a long-named secret, and the audit events they left."""
    write(vault, kv_mount, LONG_PATH, client_secret="generated-in-test")
    assert sync_provider(vault_provider.pk, actor="system").ok
    long_named = Secret.objects.get(provider=vault_provider, name=f"{LONG_PATH}#client_secret")
    # Every state a colour marks: overdue and changed out of band, due soon (the policy's interval is 30 days).
    now = timezone.now()
    Secret.objects.filter(provider=vault_provider, name="app/db#user").update(
        first_seen_at=now - dt.timedelta(days=90), changed_out_of_band_at=now)
    Secret.objects.filter(pk=long_named.pk).update(first_seen_at=now - dt.timedelta(days=20))
    users = role_users
    done = request_rotation(secret, actor=users["bob"], reason="Quarterly rotation of the app database password")
    decide_rotation(done, actor=users["charlie"], approve=True)
    assert run_rotation(done.pk) == RotationRequest.State.SUCCEEDED  # run here: the page shows a finished run
    waiting = request_rotation(long_named, actor=users["bob"], reason="The vendor asked for a new client secret")
    yield [
        ("home", "erin", "/", "Secrets"),
        ("inventory", "erin", "/inventory/", "Filter"),
        ("secret", "bob", secret.get_absolute_url(), "Request rotation"),
        ("long-named-secret", "erin", long_named.get_absolute_url(), None),
        ("rotations", "erin", "/rotations/", "Filter"),
        ("run-succeeded", "erin", done.get_absolute_url(), None),
        ("run-waiting", "charlie", waiting.get_absolute_url(), "Approve"),
        ("approvals", "charlie", "/rotations/approvals/", "Approve"),
        ("audit-log", "erin", "/audit/", "Filter"),
        ("compliance-soc2", "dana", "/compliance/soc2/", "Filter"),
        ("providers", "erin", "/providers/", "Register a provider"),
        ("provider", "erin", vault_provider.get_absolute_url(), "Sync now"),
        ("policy-form", "erin", "/rotations/policies/new/", "Create"),
        ("secret-form", "erin", "/inventory/new/", "Create in provider"),
        ("provider-form", "erin", "/providers/new/", "Register"),
    ]
    # The approval and the filing queued jobs no worker runs here: leave no stale job for a later test's worker.
    for queue in ("rotation", "default"):
        django_rq.get_queue(queue).empty()


def signed_in(sign_in):
    """One signed-in page per user, made on first use and reused for every page that user visits."""
    opened = {}

    def page_of(username):
        if username not in opened:
            opened[username] = sign_in(username)
        return opened[username]

    return page_of


def visit(page, path):
    response = page.goto(path)
    assert response.status == 200, f"{path} answered {response.status}"


def report(problems):
    return "\n".join(f"{where}: {problem}" for where, problem in problems)


def test_main_pages_fit_1280_and_768_px_with_labelled_fields_and_badges_in_words(sign_in, artifacts, pages):
    page_of, problems = signed_in(sign_in), []
    for width, viewport in WIDTHS.items():
        for name, username, path, _ in pages:
            page = page_of(username)
            page.set_viewport_size(viewport)
            visit(page, path)
            artifacts.shot(page, f"{width}-{name}")
            where = f"{name} at {width} px"
            problems += [(where, problem) for problem in usability.overflow(page)]
            problems += [(where, problem) for problem in usability.broken_words(page)]
            problems += [(where, problem) for problem in usability.colour_only(page)]
            problems += [(where, problem) for problem in usability.unnamed_fields(page)]  # opens <details>
    assert not problems, report(problems)
    assert artifacts.count == 2 * len(pages)

    # The checks catch what they look for: a box wider than the window, a field without a label, a badge with
    # colour alone, a word split in a squeezed cell (styles through the CSSOM: the CSP refuses inline styles).
    page.evaluate(PROBES)
    assert usability.overflow(page) and usability.broken_words(page)
    assert usability.unnamed_fields(page) == ["field without a label: <input name=probe id=>"]
    assert usability.colour_only(page) == ['badge <span class="badge text-bg-danger"></span>']


def test_tab_reaches_the_navigation_and_each_primary_action_with_a_visible_focus(sign_in, pages):
    page_of, problems = signed_in(sign_in), []
    for name, username, path, primary in pages:
        if primary is None:
            continue
        page = page_of(username)
        page.set_viewport_size(WIDTHS["1280"])
        visit(page, path)
        found, stops = usability.tab_through(page, primary)
        problems += [(name, f"{problem} (focused: {stops})" if "never" in problem else problem) for problem in found]
    assert not problems, report(problems)

    # At 768 px the navigation folds behind its toggle button: Tab reaches it, Enter opens it, Tab goes on in.
    page = page_of("erin")
    page.set_viewport_size(WIDTHS["768"])
    visit(page, "/")
    toggle = page.get_by_role("button", name="Toggle navigation")
    for _ in range(5):
        page.keyboard.press("Tab")
        if toggle.evaluate("(el) => el === document.activeElement"):
            break
    expect(toggle).to_be_focused()
    assert page.evaluate(usability.FOCUSED)["visible"]
    page.keyboard.press("Enter")
    expect(page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Inventory")).to_be_visible()
    found, stops = usability.tab_through(page, "Sign out")
    assert not found, f"{found} (focused: {stops})"


def test_times_are_in_the_browsers_time_zone_with_utc_on_hover(sign_in, artifacts, pages):
    tokyo = sign_in("erin", timezone_id="Asia/Tokyo")  # the sign-in page was the first page view
    # app.js is deferred: wait until it has run rather than racing it (a CI run once looked too early).
    tokyo.wait_for_function("document.cookie.split('; ').includes('tz=Asia/Tokyo')")
    assert {"name": "tz", "value": "Asia/Tokyo"} in [{k: c[k] for k in ("name", "value")}
                                                    for c in tokyo.context.cookies()]
    checked, problems = 0, []
    paths = {name: path for name, _, path, _ in pages}
    for name in ("audit-log", "rotations", "run-succeeded"):
        visit(tokyo, paths[name])
        found, count = usability.time_problems(tokyo, "Asia/Tokyo")
        problems += [(name, problem) for problem in found]
        checked += count
    assert not problems, report(problems)
    assert checked >= 10, f"only {checked} times of day were shown"
    expect(tokyo.locator("time").filter(has_text="JST").first).to_be_visible()
    artifacts.shot(tokyo, "run-page-in-tokyo-time")

    # The audit log's times through the navigation, as a person in Tokyo would open it, say JST too.
    nav(tokyo, "Audit")
    first = tokyo.get_by_role("row").nth(1).locator("time")
    expect(first).to_contain_text("JST")
    expect(first).to_have_attribute("title", usability.UTC_TITLE)
