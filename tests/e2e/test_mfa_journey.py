"""Two-factor sign-in in a real browser: an Approver's first sign-in sets up an authenticator from the page (the
QR code must load under the CSP), keeps the recovery codes, and the next sign-in asks for a code.
"""
import re
from base64 import b32decode

import pytest
from playwright.sync_api import expect

from audit.models import AuditEvent
from tests.conftest import TEST_PASSWORD
from tests.foundation.mfa_helpers import code_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def password_step(page, username):
    page.goto("/rotations/approvals/")  # a stranger is sent to the sign-in form, and comes back here
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_an_approver_sets_up_two_factor_at_first_sign_in(browser, live_server, artifacts, role_users):
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    refused = []  # the CSP's refusals, as the browser reports them
    page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text
            else None)
    password_step(page, "charlie")

    expect(page.get_by_role("heading", level=1)).to_have_text("Set up two-factor authentication")
    qr = page.get_by_role("img", name=re.compile("QR code"))
    expect(qr).to_be_visible()
    assert qr.evaluate("image => image.complete && image.naturalWidth > 0"), "the QR code did not load"
    artifacts.shot(page, "setup")
    key = b32decode(page.get_by_test_id("mfa-manual-key").inner_text().replace(" ", ""))
    code, step = code_for(key)
    page.get_by_label("Code from your authenticator app").fill(code)
    page.get_by_role("button", name="Confirm and turn on").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Two-factor authentication is on")
    codes = page.get_by_test_id("recovery-codes").get_by_role("listitem")
    expect(codes).to_have_count(10)
    artifacts.shot(page, "recovery-codes")
    page.get_by_role("link", name="I have saved them: continue").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Approvals")

    page.get_by_role("button", name="Sign out").click()
    password_step(page, "charlie")
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-factor verification")
    page.get_by_label("Authentication code").fill(code_for(key, after_step=step)[0])
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Approvals")
    assert refused == []
    assert list(AuditEvent.objects.filter(event_type__startswith="auth.mfa").values_list("event_type", flat=True)
                .order_by("sequence")) == ["auth.mfa_enrolled", "auth.mfa_verified"]
    context.close()
