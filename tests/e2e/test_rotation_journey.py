"""The rotation journey in a real browser: bob requests, charlie approves, a real worker rotates the secret in OpenBao.

Everything is real: Django behind pytest-django's threaded live server, an RQ worker process, Redis, OpenBao and
Debian's Chromium. Pages are driven by the labels, roles and texts a person reads.
"""
import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from secretsadmin import roles
from tests.rotation.conftest import read

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
REASON = "Quarterly rotation of the app database password"
RUN_TIMEOUT = 60_000  # ms: the worker process starts, then stages, verifies, promotes and revokes


def run_state(page):
    """The state badge of the run page's live "Run" panel."""
    return page.get_by_role("region", name="Run", exact=True).locator(".rotation-state")


def request_rotation(page, secret_name):
    """From the inventory to a filed request; returns the request page's URL."""
    page.get_by_role("link", name="Inventory").click()
    page.get_by_label("Search").fill(secret_name)
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("link", name=secret_name, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(secret_name)
    page.get_by_label("Reason for a rotation").fill(REASON)
    page.get_by_role("button", name="Request rotation").click()
    expect(page.get_by_role("alert")).to_contain_text(f"approvers have been asked for {secret_name}.")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Rotation of {secret_name}")
    expect(run_state(page)).to_have_text("Pending approval")
    return page.url


def test_an_approved_request_is_rotated_while_the_requester_watches(sign_in, rotation_worker, secret, vault,
                                                                    kv_mount, role_users):
    initial = read(vault, kv_mount, "app/db")["data"]["password"]
    pages_html = []

    bob = sign_in("bob")
    request_rotation(bob, secret.name)
    expect(bob.get_by_role("region", name="Request", exact=True)).to_contain_text(REASON)
    pages_html.append(bob.content())
    bob.evaluate("window.sameDocument = true")  # gone if the page is ever reloaded or left

    charlie = sign_in("charlie")
    charlie.get_by_role("link", name="Approvals").click()
    waiting = charlie.get_by_role("region", name=secret.name)  # name, then provider
    expect(waiting).to_contain_text(REASON)
    expect(waiting).to_contain_text("requested by bob")
    pages_html.append(charlie.content())
    waiting.get_by_role("button", name="Approve").click()
    expect(charlie.get_by_role("alert")).to_contain_text("Approved; the rotation is queued.")

    # bob's page, never reloaded, follows the run through htmx polling until it is final.
    expect(run_state(bob)).to_have_text("Succeeded", timeout=RUN_TIMEOUT)
    assert bob.evaluate("window.sameDocument") is True
    run = bob.get_by_role("region", name="Run", exact=True)
    expect(run).to_contain_text("Approved by charlie")
    expect(run.get_by_title("This section refreshes every two seconds")).to_have_count(0)  # polling stopped
    pages_html.append(bob.content())

    bob.get_by_role("region", name="Request", exact=True).get_by_role("link", name=secret.name).click()
    expect(bob.get_by_role("heading", level=1)).to_contain_text(secret.name)
    history = bob.get_by_role("region", name="Rotation", exact=True).get_by_role("listitem").filter(has_text="bob")
    expect(history).to_have_count(1)
    expect(history).to_contain_text("Succeeded")
    expect(history).to_contain_text("Manual")
    pages_html.append(bob.content())

    # In OpenBao: one new current version; the old one revoked (the policy has no grace period).
    metadata = vault.root.secrets.kv.v2.read_secret_metadata("app/db", mount_point=kv_mount)["data"]
    assert metadata["current_version"] == 2
    assert metadata["versions"]["1"]["deletion_time"]
    assert read(vault, kv_mount, "app/db", version=1)["data"] is None
    rotated = read(vault, kv_mount, "app/db")["data"]["password"]
    assert rotated != initial and len(rotated) == 24

    # The dashboard keeps metadata only: no value, old or new, and no provider token in any page it served.
    for html in pages_html:
        for value in (initial, rotated, vault.root.token):
            assert value not in html


def test_a_requester_who_also_approves_cannot_approve_their_own_request(sign_in, secret, role_users):
    role_users["bob"].groups.add(Group.objects.get(name=roles.APPROVER))
    bob = sign_in("bob")
    request_url = request_rotation(bob, secret.name)
    expect(bob.get_by_role("button", name="Approve")).to_have_count(0)
    bob.get_by_role("link", name="Approvals").click()
    expect(bob.get_by_text("Nothing waits for your decision.")).to_be_visible()

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
