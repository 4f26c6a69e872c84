"""Single sign-on end to end: the test client, real HTTP to the local provider, users and roles from its claims."""
import logging

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse

from audit.models import AuditEvent
from secretsadmin import roles
from tests.auth.conftest import finish_sign_in, idp_user, sign_in_through, start_sign_in

pytestmark = pytest.mark.django_db
User = get_user_model()


def role_names(username):
    return set(User.objects.get(username=username).groups.values_list("name", flat=True))


def test_first_sign_in_creates_the_user_with_the_mapped_roles(client, sso):
    sso.user = idp_user("olivia", "sa-operators", "payroll-team", name="Olivia")

    response = sign_in_through(client, sso)

    assert response.status_code == 302 and response["Location"] == reverse("dashboard:home")
    olivia = User.objects.get(username="olivia")
    assert not olivia.has_usable_password()
    assert olivia.email == "olivia@example.invalid"
    assert sso.userinfo_requests == 1  # the claims were read from the userinfo endpoint too
    assert role_names("olivia") == {roles.OPERATOR}
    home = client.get(reverse("dashboard:home"))
    assert home.status_code == 200 and home.wsgi_request.user == olivia


def test_sign_in_is_audited_with_its_role_changes(client, sso):
    sso.user = idp_user("olivia", "sa-viewers", "sa-operators")

    sign_in_through(client, sso)

    olivia = User.objects.get(username="olivia")
    sso_login = AuditEvent.objects.get(event_type="auth.sso_login")
    assert (sso_login.actor_id, sso_login.target_text, sso_login.outcome) == (olivia.pk, "olivia", "success")
    assert sso_login.details == {"issuer": sso.url, "subject": "subject-olivia", "account_created": True,
                                 "mapped_groups": ["sa-operators", "sa-viewers"], "roles": ["Operator", "Viewer"]}
    grants = AuditEvent.objects.filter(event_type="permission.granted", target_text="olivia").order_by("sequence")
    assert [(e.actor_type, e.details) for e in grants] == [
        ("system", {"group": "Operator", "source": "single sign-on"}),
        ("system", {"group": "Viewer", "source": "single sign-on"}),
    ]
    # Django's own sign-in signal fired too (the MFA middleware and the idle timer listen to it).
    assert AuditEvent.objects.filter(event_type="auth.login", actor_id=olivia.pk).count() == 1


def test_roles_follow_the_identity_provider_groups_on_every_sign_in(client, sso):
    sso.user = idp_user("olivia", "sa-viewers", "sa-approvers")
    sign_in_through(client, sso)
    assert role_names("olivia") == {roles.VIEWER, roles.APPROVER}

    client.post(reverse("logout"))
    sso.user = idp_user("olivia", "sa-operators")
    sign_in_through(client, sso)

    assert role_names("olivia") == {roles.OPERATOR}
    changes = AuditEvent.objects.filter(event_type__startswith="permission.", target_text="olivia").order_by(
        "sequence").values_list("event_type", "details__group")
    assert list(changes)[-3:] == [("permission.granted", "Operator"), ("permission.revoked", "Approver"),
                                  ("permission.revoked", "Viewer")]
    assert AuditEvent.objects.filter(event_type="auth.sso_login").latest("sequence").details["account_created"] is False


def test_roles_the_mapping_does_not_name_and_other_groups_are_left_alone(client, sso, settings):
    settings.OIDC_ROLE_MAPPING = {"sa-viewers": [roles.VIEWER], "sa-admins": [roles.ADMINISTRATOR]}
    sso.user = idp_user("olivia", "sa-viewers", "sa-admins")
    sign_in_through(client, sso)
    olivia = User.objects.get(username="olivia")
    assert olivia.is_staff  # Administrators reach the admin site, as in the demo
    # An administrator grants Auditor here (the IdP does not manage it) and a team group outside the roles.
    olivia.groups.add(Group.objects.get(name=roles.AUDITOR), Group.objects.create(name="on-call"))

    client.post(reverse("logout"))
    sso.user = idp_user("olivia")  # no groups any more
    sign_in_through(client, sso)

    assert role_names("olivia") == {roles.AUDITOR, "on-call"}
    assert not User.objects.get(username="olivia").is_staff


def test_someone_whose_groups_map_to_no_role_signs_in_without_access(client, sso):
    sso.user = idp_user("nora", "payroll-team")

    response = sign_in_through(client, sso)

    assert response.status_code == 302
    assert role_names("nora") == set()
    assert AuditEvent.objects.get(event_type="auth.sso_login").details["roles"] == []
    assert client.get(reverse("providers:provider_list")).status_code in (403, 404)


def test_the_page_asked_for_is_shown_after_sign_in_but_never_another_site(client, sso):
    sso.user = idp_user("olivia", "sa-viewers")
    assert sign_in_through(client, sso, next_url="/rotations/")["Location"] == "/rotations/"

    client.post(reverse("logout"))
    assert sign_in_through(client, sso, next_url="https://evil.example/")["Location"] == reverse("dashboard:home")


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_both_client_authentication_methods_work(client, sso, settings, method):
    settings.OIDC_TOKEN_USE_BASIC_AUTH = method == "client_secret_basic"
    sso.user = idp_user("olivia", "sa-viewers")

    assert sign_in_through(client, sso).status_code == 302

    assert sso.token_requests == [(method, "ok")]


def test_the_authorize_request_carries_state_nonce_and_an_s256_challenge(client, sso):
    sso.user = idp_user("olivia", "sa-viewers")
    start = client.get(reverse("oidc:authenticate"))
    query = start["Location"].split("?", 1)[1]

    for parameter in ("state=", "nonce=", "code_challenge=", "code_challenge_method=S256", "scope=openid+email"):
        assert parameter in query
    # The verifier stays in this browser's session; only its hash went to the provider.
    (flow,) = client.session["oidc_states"].values()
    assert flow["code_verifier"] and flow["code_verifier"] not in query


def test_tokens_reach_neither_the_audit_log_nor_the_logs(client, sso, caplog):
    sso.user = idp_user("olivia", "sa-operators")
    caplog.set_level(logging.DEBUG)
    query = start_sign_in(client, sso)

    finish_sign_in(client, query)

    secrets = [query["code"], sso.client_secret, *sso.access_tokens]
    assert len(secrets) == 3
    stored = " ".join(f"{e.details} {e.failure_reason} {e.target_text}" for e in AuditEvent.objects.all())
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert all(secret not in stored and secret not in logged for secret in secrets)


def test_without_a_userinfo_endpoint_the_id_token_claims_are_enough(client, sso, settings):
    settings.OIDC_OP_USER_ENDPOINT = ""
    sso.user = idp_user("olivia", "sa-viewers")

    assert sign_in_through(client, sso).status_code == 302

    assert role_names("olivia") == {roles.VIEWER}
    assert sso.userinfo_requests == 0
