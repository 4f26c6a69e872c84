"""The rotation journey in a real browser: bob requests, charlie approves, a real worker rotates the secret in OpenBao,
and dana (Auditor) finds every step of the run in the audit log.

Everything is real: Django behind pytest-django's threaded live server, an RQ worker process, Redis, OpenBao and
Debian's Chromium. Pages are driven by the labels, roles and texts a person reads.
"""
import uuid

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from audit.models import AuditEvent
from providers.sync import sync_provider
from rotation.models import Approval, RotationRequest
from secretsadmin import roles
from tests.e2e.pages import nav
from tests.rotation.conftest import read, write

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
REASON = "Quarterly rotation of the app database password"
RUN_TIMEOUT = 60_000  # ms: the worker process starts, then stages, verifies, promotes and revokes
# The steps of a run without a grace period, as the run page and the audit log name them.
STEPS = ["Staging", "Applying to target", "Verifying", "Promoting", "Revoking old version"]
# Record the run panel's state each time htmx swaps it in: the page's own history, lost if it is ever reloaded.
WATCH_RUN = """() => {
    const state = () => document.querySelector("#run-status").dataset.state;
    window.runStates = [state()];
    document.body.addEventListener("htmx:afterSettle", () => window.runStates.push(state()));
}"""


def run_state(page):
    """The state badge of the run page's live "Run" panel."""
    return page.get_by_role("region", name="Run", exact=True).locator(".rotation-state")


def request_rotation(page, secret_name, artifacts=None):
    """From the inventory's search box to a filed request; returns the request page's URL."""
    nav(page, "Inventory")
    page.get_by_label("Search").fill(secret_name)
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("row").filter(has=page.get_by_role("link"))).to_have_count(1)  # only the match
    if artifacts:
        artifacts.shot(page, "inventory-search")
    page.get_by_role("link", name=secret_name, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(secret_name)
    page.get_by_label("Reason for a rotation").fill(REASON)
    if artifacts:
        artifacts.shot(page, "secret-before-request")
    page.get_by_role("button", name="Request rotation").click()
    expect(page.get_by_role("alert")).to_contain_text(f"approvers have been asked for {secret_name}.")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Rotation of {secret_name}")
    expect(run_state(page)).to_have_text("Pending approval")
    return page.url


def test_an_approved_request_is_rotated_while_the_requester_watches(sign_in, artifacts, rotation_worker, secret,
                                                                    vault, kv_mount, vault_provider, role_users):
    # Neighbours in the same provider, so that the search has something to leave out.
    neighbours = [f"cache-{uuid.uuid4().hex}", f"billing-{uuid.uuid4().hex}"]
    write(vault, kv_mount, "app/cache", password=neighbours[0])
    write(vault, kv_mount, "billing/api", token=neighbours[1])
    assert sync_provider(vault_provider.pk, actor="system").ok
    initial = read(vault, kv_mount, "app/db")["data"]["password"]

    bob = sign_in("bob")
    nav(bob, "Inventory")
    expect(bob.get_by_text("4 in total.")).to_be_visible()  # app/db#password, app/db#user, app/cache, billing/api
    artifacts.shot(bob, "bob-inventory")
    request_url = request_rotation(bob, secret.name, artifacts)
    run_uuid = request_url.rstrip("/").rsplit("/", 1)[1]
    expect(bob.get_by_role("region", name="Request", exact=True)).to_contain_text(REASON)
    artifacts.shot(bob, "bob-request-pending")
    bob.evaluate(WATCH_RUN)

    charlie = sign_in("charlie")
    nav(charlie, "Approvals")
    waiting = charlie.get_by_role("region", name=secret.name)  # name, then provider
    expect(waiting).to_contain_text(REASON)
    expect(waiting).to_contain_text("requested by bob")
    artifacts.shot(charlie, "charlie-approvals-queue")
    waiting.get_by_role("button", name="Approve").click()
    expect(charlie.get_by_role("alert")).to_contain_text("Approved; the rotation is queued.")
    artifacts.shot(charlie, "charlie-approved")

    # bob's page, never reloaded, follows the run through htmx polling until it is final.
    expect(run_state(bob)).to_have_text("Succeeded", timeout=RUN_TIMEOUT)
    # The badge changes at htmx's swap; the watcher records at the settle a moment later: wait for that.
    bob.wait_for_function("() => (window.runStates || []).at(-1) === 'succeeded'", timeout=5_000)
    states = bob.evaluate("window.runStates")  # undefined, and so a failure, had the page been reloaded
    assert states[0] == "pending_approval" and states[-1] == "succeeded", states
    run = bob.get_by_role("region", name="Run", exact=True)
    expect(run).to_contain_text("Approved by charlie")
    steps = run.locator(".rotation-step")
    expect(steps).to_have_count(len(STEPS))
    expect(steps).to_contain_text(STEPS)
    expect(run.locator(".rotation-step[data-outcome=succeeded]")).to_have_count(len(STEPS))
    expect(run.get_by_title("This section refreshes every two seconds")).to_have_count(0)  # polling stopped
    artifacts.shot(bob, "bob-run-succeeded")

    bob.get_by_role("region", name="Request", exact=True).get_by_role("link", name=secret.name).click()
    expect(bob.get_by_role("heading", level=1)).to_contain_text(secret.name)
    history = bob.get_by_role("region", name="Rotation", exact=True).get_by_role("listitem").filter(has_text="bob")
    expect(history).to_have_count(1)
    expect(history).to_contain_text("Succeeded")
    expect(history).to_contain_text("Manual")
    artifacts.shot(bob, "bob-secret-after-rotation")

    # In OpenBao: one new current version; the old one revoked (the policy has no grace period).
    metadata = vault.root.secrets.kv.v2.read_secret_metadata("app/db", mount_point=kv_mount)["data"]
    assert metadata["current_version"] == 2
    assert metadata["versions"]["1"]["deletion_time"]
    assert read(vault, kv_mount, "app/db", version=1)["data"] is None
    rotated = read(vault, kv_mount, "app/db")["data"]["password"]
    assert rotated != initial and len(rotated) == 24

    # dana (Auditor) finds the run in the audit log: who asked, who approved, and each step's start and finish.
    dana = sign_in("dana")
    nav(dana, "Audit")
    dana.get_by_label("Provider").fill(vault_provider.name)
    dana.get_by_label("Secret").fill(secret.name)
    dana.get_by_role("button", name="Filter").click()
    rows = dana.get_by_role("row")
    expect(rows.filter(has_text="rotation.requested")).to_contain_text("bob")
    expect(rows.filter(has_text="rotation.approved")).to_contain_text("charlie")
    started = rows.filter(has_text="rotation.step_started")
    expect(started).to_have_count(len(STEPS))
    # Newest first; each start names the step the run entered.
    expect(started).to_contain_text([f"({step})" for step in reversed(STEPS)])
    expect(rows.filter(has_text="rotation.step_finished")).to_have_count(len(STEPS))
    expect(rows.filter(has_text="secret.rotation")).to_have_count(1)
    artifacts.shot(dana, "dana-audit-log-of-the-run")
    rows.filter(has_text="rotation.step_finished").first.get_by_role("link").click()
    details = dana.get_by_test_id("details-json")
    expect(details).to_contain_text('"step": "revoking_old"')
    expect(details).to_contain_text(f'"request": "{run_uuid}"')
    artifacts.shot(dana, "dana-audit-event-last-step")
    run_events = AuditEvent.objects.filter(target_id=run_uuid)
    assert run_events.filter(event_type="rotation.step_finished").count() == len(STEPS)

    # The dashboard keeps metadata only: no value, old or new, and no provider token in any page it served.
    artifacts.assert_never_shown(initial, rotated, vault.root.token, *neighbours)


def test_a_requester_who_also_approves_cannot_approve_their_own_request(sign_in, artifacts, secret, vault, kv_mount,
                                                                       role_users):
    bob_user = role_users["bob"]
    bob_user.groups.add(Group.objects.get(name=roles.APPROVER))
    bob = sign_in("bob")
    request_url = request_rotation(bob, secret.name)
    expect(bob.get_by_role("button", name="Approve")).to_have_count(0)
    artifacts.shot(bob, "own-request-without-approve-button")
    nav(bob, "Approvals")
    expect(bob.get_by_text("Nothing waits for your decision.")).to_be_visible()
    artifacts.shot(bob, "approvals-queue-without-own-request")

    # Sent anyway (a replayed or hand-made form): the server refuses and says why, on the request page.
    bob.goto(request_url)
    bob.evaluate("""(action) => {
        const form = Object.assign(document.createElement("form"), {method: "post", action});
        const token = document.querySelector("[name=csrfmiddlewaretoken]").value;
        for (const [name, value] of [["csrfmiddlewaretoken", token], ["decision", "approve"]]) {
            form.append(Object.assign(document.createElement("input"), {type: "hidden", name, value}));
        }
        document.body.append(form);
        form.submit();
    }""", f"{request_url}decide/")
    expect(bob.get_by_role("alert")).to_have_text("You cannot approve or reject your own request.")
    expect(run_state(bob)).to_have_text("Pending approval")
    artifacts.shot(bob, "own-approval-refused")

    # Nothing was approved, and the attempt is on record with its reason.
    rotation = RotationRequest.objects.get(secret=secret)
    assert rotation.state == RotationRequest.State.PENDING_APPROVAL
    assert not Approval.objects.filter(request=rotation).exists()
    refused = AuditEvent.objects.get(event_type="rotation.approved", target_id=str(rotation.uuid))
    assert (refused.outcome, refused.actor_name) == ("failure", "bob")
    assert refused.failure_reason == "You cannot approve or reject your own request."
    artifacts.assert_never_shown(read(vault, kv_mount, "app/db")["data"]["password"], vault.root.token)
