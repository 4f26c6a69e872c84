"""Single sign-on in a real browser: with password sign-in turned off, an Operator presses the one button, signs
in at the identity provider (the local OpenID Connect provider), lands on the dashboard, and signs out of both.

Operator, not an MFA role: this journey is about the identity provider, not the second factor.
"""
import pytest
from playwright.sync_api import expect

from tests.auth.conftest import apply_settings, idp_user, oidc_provider, sso_settings  # noqa: F401  (fixture)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sso_live(settings, oidc_provider, live_server):  # noqa: F811  (requests the fixture imported above)
    """SSO on for the live server, password sign-in off, as production may run it."""
    oidc_provider.reset()
    oidc_provider.redirect_uris = {f"{live_server.url}/oidc/callback/"}
    apply_settings(settings, sso_settings(settings, oidc_provider))
    settings.LOCAL_LOGIN_ENABLED = False
    yield oidc_provider
    oidc_provider.reset()


def test_an_operator_signs_in_through_the_identity_provider_and_out_of_both(browser, live_server, sso_live,
                                                                            artifacts):
    sso_live.user = idp_user("sso-bianca", "sa-operators", "payroll-team")
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    refused = []  # what the Content Security Policy blocked, as Chromium reports it
    page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text
            else None)
    try:
        page.goto("/providers/")  # a stranger is sent to the sign-in page, which offers only the button
        expect(page.get_by_label("Password")).to_have_count(0)
        artifacts.shot(page, "sign-in page")

        page.get_by_role("link", name="Sign in with single sign-on").click()

        page.get_by_test_id("current-user").filter(has_text="sso-bianca").wait_for()
        expect(page.get_by_test_id("current-user")).to_contain_text("Operator")
        expect(page.get_by_role("heading", name="Providers")).to_be_visible()  # the page first asked for
        assert page.url == f"{live_server.url}/providers/"
        artifacts.shot(page, "signed in")

        # Signing out is a form whose answer redirects to the provider's end-session URL and back.
        page.get_by_role("button", name="Sign out").click()

        expect(page.get_by_role("link", name="Sign in with single sign-on")).to_be_visible()
        assert page.url == f"{live_server.url}/accounts/login/"
        assert [entry["client_id"] for entry in sso_live.logouts] == [sso_live.client_id]
        assert refused == []
    except Exception:
        artifacts.keep_failure(page, "sso")
        raise
    finally:
        context.close()
