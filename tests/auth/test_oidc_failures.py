"""Single sign-on that must not sign anyone in: each case is a clear page (never a 500), audited, with no user made."""
import html
import secrets
import time

import jwt
import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from audit.models import AuditEvent
from secretsadmin import roles
from secretsadmin.process_group import free_port
from tests.auth.conftest import finish_sign_in, idp_user, sign_in_through, start_sign_in
from tests.servers.oidc_provider import new_rsa_key

pytestmark = pytest.mark.django_db
User = get_user_model()


def assert_refused(response, reason, *, status=400, target=None, provider=None):
    """The failure page names the reason; one failed sign-in is audited; nobody is signed in."""
    assert response.status_code == status
    assert response.templates[0].name == "registration/sso_failed.html"
    text = html.unescape(response.content.decode())
    assert reason in text, text
    failure = AuditEvent.objects.get(event_type="auth.login_failed")
    assert failure.outcome == "failure" and failure.details == {"method": "oidc"}
    assert failure.failure_reason.startswith("single sign-on: ") and reason in failure.failure_reason
    assert failure.target_text == (target or provider.url)
    assert not response.wsgi_request.user.is_authenticated
    assert not AuditEvent.objects.filter(event_type__in=("auth.login", "auth.sso_login")).exists()


def test_a_tampered_state_is_refused(client, sso):
    sso.user = idp_user("olivia", "sa-viewers")
    query = start_sign_in(client, sso)

    state = query["state"]
    tampered = state[:-1] + ("y" if state.endswith("x") else "x")  # always a different state

    response = finish_sign_in(client, {**query, "state": tampered})

    assert_refused(response, "does not match a sign-in started in this browser", provider=sso)
    assert not User.objects.filter(username="olivia").exists()


def test_a_callback_to_a_browser_that_started_no_sign_in_is_refused(client, sso):
    sso.user = idp_user("olivia", "sa-viewers")
    query = start_sign_in(client, sso)
    other_browser = client.__class__()

    response = finish_sign_in(other_browser, query)

    assert_refused(response, "no sign-in was started in this browser", provider=sso)


def test_an_id_token_signed_with_another_key_is_refused(client, sso):
    sso.user = idp_user("olivia", "sa-admins")
    sso.signing_key = new_rsa_key()  # same key id, different key: only the signature check can tell

    assert_refused(sign_in_through(client, sso), "signature does not match the provider's keys", provider=sso)
    assert not User.objects.filter(username="olivia").exists()


def test_an_id_token_for_another_client_is_refused(client, sso):
    sso.user = idp_user("olivia", "sa-viewers")
    sso.id_token_claims = {"aud": "some-other-client"}

    assert_refused(sign_in_through(client, sso), "issued for another client", provider=sso)


def test_an_id_token_from_another_issuer_is_refused(client, sso):
    sso.user = idp_user("olivia", "sa-viewers")
    sso.id_token_claims = {"iss": "https://idp.example.invalid"}

    assert_refused(sign_in_through(client, sso), "issued by another identity provider", provider=sso)


def test_an_expired_id_token_is_refused(client, sso):
    sso.user = idp_user("olivia", "sa-viewers")
    an_hour_ago = int(time.time()) - 3600
    sso.id_token_claims = {"iat": an_hour_ago - 300, "exp": an_hour_ago}

    assert_refused(sign_in_through(client, sso), "the ID token has expired", provider=sso)


def test_an_id_token_with_another_nonce_is_refused(client, sso):
    sso.user = idp_user("olivia", "sa-viewers")
    sso.id_token_claims = {"nonce": "replayed-from-elsewhere"}

    assert_refused(sign_in_through(client, sso), "Nonce verification failed", provider=sso)


def test_an_id_token_signed_with_the_client_secret_is_refused(client, sso, monkeypatch):
    # The classic confusion: HS256 keyed with the (shared) client secret instead of the provider's RSA key.
    sso.user = idp_user("olivia", "sa-viewers")
    monkeypatch.setattr(sso, "id_token", lambda grant: jwt.encode(
        {"iss": sso.url, "sub": "subject-olivia", "aud": sso.client_id, "iat": int(time.time()),
         "exp": int(time.time()) + 300, "nonce": grant["nonce"], **grant["claims"]},
        sso.client_secret, algorithm="HS256", headers={"kid": sso.kid}))

    assert_refused(sign_in_through(client, sso), "not signed with RS256", provider=sso)


def test_a_userinfo_answer_about_someone_else_is_refused(client, sso):
    sso.user = idp_user("olivia", "sa-viewers")
    sso.id_token_claims = {"sub": "subject-erin", "preferred_username": "erin"}

    assert_refused(sign_in_through(client, sso), "not about the person in the ID token", provider=sso)


def test_a_code_is_used_once(client, sso):
    sso.user = idp_user("olivia", "sa-viewers")
    first = start_sign_in(client, sso)
    assert finish_sign_in(client, first).status_code == 302
    client.post(reverse("logout"))
    second = start_sign_in(client, sso)  # a fresh state in the session, with the first, spent code

    response = finish_sign_in(client, {**second, "code": first["code"]})

    assert response.status_code == 400
    assert "token endpoint answered HTTP 400 (invalid_grant)" in response.content.decode()
    assert AuditEvent.objects.filter(event_type="auth.login_failed",
                                     failure_reason__contains="invalid_grant").count() == 1
    assert sso.token_requests[-1] == ("client_secret_basic", "invalid_grant")


def test_a_wrong_client_secret_is_named_without_being_shown(client, sso, settings):
    sso.user = idp_user("olivia", "sa-viewers")
    settings.OIDC_RP_CLIENT_SECRET = wrong = secrets.token_urlsafe(16)

    response = sign_in_through(client, sso)

    assert_refused(response, "token endpoint answered HTTP 401 (invalid_client)", provider=sso)
    assert wrong not in response.content.decode() and wrong not in AuditEvent.objects.get().failure_reason


def test_a_wrong_pkce_verifier_is_refused_by_the_provider(client, sso):
    sso.user = idp_user("olivia", "sa-viewers")
    query = start_sign_in(client, sso)
    session = client.session
    session["oidc_states"][query["state"]]["code_verifier"] = "x" * 64
    session.save()

    assert_refused(finish_sign_in(client, query), "answered HTTP 400 (invalid_grant)", provider=sso)


def test_a_provider_that_cannot_be_reached_gives_a_clear_page(client, sso, settings):
    sso.user = idp_user("olivia", "sa-viewers")
    settings.OIDC_OP_TOKEN_ENDPOINT = f"http://127.0.0.1:{free_port()}/token"  # nothing listens there

    assert_refused(sign_in_through(client, sso), "token endpoint could not be reached", status=502, provider=sso)


def test_a_provider_that_refuses_the_sign_in_is_explained(client, sso):
    sso.user = idp_user("olivia", "sa-viewers")
    sso.deny = True

    assert_refused(sign_in_through(client, sso), "did not sign you in (access_denied)", provider=sso)


def test_an_error_code_that_is_not_an_oauth_word_is_not_repeated(client, sso):
    query = start_sign_in(client, sso)  # nobody signed in at the provider: access_denied
    response = finish_sign_in(client, {**query, "error": "<script>alert(1)</script>"})

    assert_refused(response, "did not sign you in (an error)", provider=sso)
    assert "<script>alert" not in response.content.decode()


def test_a_local_account_cannot_be_taken_over_through_the_identity_provider(client, sso, role_users):
    sso.user = idp_user("erin", "sa-viewers")  # erin is a local Administrator with a password

    assert_refused(sign_in_through(client, sso), "a local account with a password already has this username",
                   target="erin")
    erin = User.objects.get(username="erin")
    assert erin.has_usable_password()
    assert set(erin.groups.values_list("name", flat=True)) == {roles.ADMINISTRATOR}


def test_a_deactivated_account_cannot_sign_in(client, sso):
    sso.user = idp_user("olivia", "sa-viewers")
    sign_in_through(client, sso)
    client.post(reverse("logout"))
    User.objects.filter(username="olivia").update(is_active=False)

    response = sign_in_through(client, sso)

    assert response.status_code == 400 and "this account is deactivated" in response.content.decode()
    assert not response.wsgi_request.user.is_authenticated
    assert AuditEvent.objects.get(event_type="auth.login_failed").target_text == "olivia"


def test_a_deactivated_account_loses_its_open_session(client, sso):
    sso.user = idp_user("olivia", "sa-viewers")
    sign_in_through(client, sso)
    assert client.get(reverse("dashboard:home")).status_code == 200

    User.objects.filter(username="olivia").update(is_active=False)

    assert client.get(reverse("dashboard:home")).status_code == 302


@pytest.mark.parametrize("claims, reason", [
    ({"preferred_username": None}, "sent no preferred_username claim"),
    ({"preferred_username": "has spaces/and slashes"}, "is not a valid username"),
    ({"preferred_username": "x" * 151}, "is not a valid username"),
    ({"groups": {"not": "a list"}}, "groups claim is not a list of group names"),
])
def test_claims_that_cannot_make_a_user_are_refused(client, sso, claims, reason):
    sso.user = {k: v for k, v in {**idp_user("olivia", "sa-viewers"), **claims}.items() if v is not None}

    assert_refused(sign_in_through(client, sso), reason, provider=sso)
    assert User.objects.count() == 0
