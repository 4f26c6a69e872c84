"""The sign-in page with single sign-on off, on, and on with password sign-in turned off (break-glass aside)."""
import pytest
import requests
from django.urls import reverse

from audit.models import AuditEvent
from tests.auth.conftest import TEST_CALLBACK, idp_user, sign_in_through
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.django_db
SSO_BUTTON = "Sign in with single sign-on"


@pytest.fixture
def sso_only(sso, settings):
    settings.LOCAL_LOGIN_ENABLED = False
    return sso


def password_sign_in(client, username, **extra):
    return client.post(reverse("login"), {"username": username, "password": TEST_PASSWORD, **extra})


def test_without_single_sign_on_there_is_no_button_and_its_urls_are_404(client, role_users):
    page = client.get(reverse("login"))
    assert SSO_BUTTON not in page.content.decode()
    assert 'name="password"' in page.content.decode()

    for url in (reverse("oidc:authenticate"), reverse("oidc:callback") + "?code=x&state=y"):
        assert client.get(url).status_code == 404
    assert password_sign_in(client, "alice").status_code == 302


def test_with_single_sign_on_the_page_offers_both(client, sso):
    page = client.get(reverse("login") + "?next=/rotations/").content.decode()

    assert SSO_BUTTON in page and 'name="password"' in page
    assert 'href="/oidc/authenticate/?next=%2Frotations%2F"' in page  # the page asked for survives the detour


def test_the_callback_is_reachable_before_sign_in_and_the_button_is_a_link(client, sso):
    # LoginRequiredMiddleware would send a stranger to the sign-in page; these answer themselves.
    assert client.get(reverse("oidc:authenticate"))["Location"].startswith(sso.url)
    assert client.get(reverse("oidc:callback")).status_code == 400


def test_with_password_sign_in_off_only_the_button_shows(client, sso_only):
    page = client.get(reverse("login")).content.decode()

    assert SSO_BUTTON in page
    assert 'name="password"' not in page
    assert "Break-glass sign-in" in page


def test_with_password_sign_in_off_a_password_is_refused_with_a_clear_message(client, sso_only, role_users):
    response = password_sign_in(client, "alice")

    assert response.status_code == 403
    assert "Password sign-in is turned off here" in response.content.decode()
    assert SSO_BUTTON in response.content.decode()
    assert not response.wsgi_request.user.is_authenticated
    # The credentials were not even checked: no sign-in, no failure to count against the lockout.
    assert not AuditEvent.objects.filter(event_type__startswith="auth.").exists()


def test_single_sign_on_still_works_with_password_sign_in_off(client, sso_only):
    sso_only.user = idp_user("olivia", "sa-viewers")

    assert sign_in_through(client, sso_only).status_code == 302
    assert client.get(reverse("dashboard:home")).status_code == 200


def test_a_superuser_can_still_break_the_glass(client, sso_only, django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.invalid", TEST_PASSWORD)
    page = client.get(reverse("login") + "?break_glass=1").content.decode()
    assert 'name="password"' in page and "Break-glass sign-in" in page

    response = password_sign_in(client, "root", break_glass="1")

    assert response.status_code == 302
    assert AuditEvent.objects.get(event_type="auth.login").actor_id == root.pk


def test_break_glass_is_for_superusers_only_and_gives_nothing_away(client, sso_only, role_users):
    right = password_sign_in(client, "erin", break_glass="1")
    wrong = client.post(reverse("login"), {"username": "erin", "password": "not-it", "break_glass": "1"})

    assert right.status_code == wrong.status_code == 200
    assert not right.wsgi_request.user.is_authenticated
    # The same answer whether or not the password was right, and both count as failed sign-ins.
    assert right.context["form"].non_field_errors() == wrong.context["form"].non_field_errors()
    assert AuditEvent.objects.filter(event_type="auth.login_failed", target_text="erin").count() == 2


def test_signing_out_of_a_single_sign_on_session_signs_out_at_the_provider_too(client, sso):
    sso.user = idp_user("olivia", "sa-viewers")
    sign_in_through(client, sso)

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert response["Location"].startswith(sso.endpoints["end_session_endpoint"] + "?")
    assert not client.get(reverse("dashboard:home")).wsgi_request.user.is_authenticated
    back = requests.get(response["Location"], allow_redirects=False, timeout=10)
    assert back.status_code == 302 and back.headers["Location"] == TEST_CALLBACK.replace("oidc/callback/",
                                                                                        "accounts/login/")
    assert sso.logouts[-1]["client_id"] == sso.client_id
    assert AuditEvent.objects.filter(event_type="auth.logout").count() == 1


def test_signing_out_of_a_password_session_stays_here(client, sso, role_users):
    password_sign_in(client, "alice")

    response = client.post(reverse("logout"))

    assert response["Location"] == reverse("login")
    assert sso.logouts == []



def test_pages_let_the_sign_out_form_reach_the_provider_and_nothing_else(client, sso):
    policy = client.get(reverse("login"))["Content-Security-Policy"]

    assert f"form-action 'self' {sso.url};" in policy + ";"
