"""Single sign-on fixtures: the local OpenID Connect provider (once per session), settings that turn SSO on, and
the sign-in round trip: the test client to the app, real HTTP to the provider, and back through the test client."""
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from django.urls import reverse

from secretsadmin.config_oidc import django_settings, parse_oidc
from tests.servers.oidc_provider import OidcProvider

TEST_CALLBACK = "http://testserver/oidc/callback/"
ROLE_MAPPING = {"sa-viewers": "Viewer", "sa-operators": "Operator", "sa-approvers": "Approver",
                "sa-auditors": "Auditor", "sa-admins": ["Administrator"]}


@pytest.fixture(scope="session")
def oidc_provider():
    provider = OidcProvider()
    yield provider
    provider.stop()


def sso_settings(settings, provider, **table):
    """The settings an [oidc] table pointing at `provider` makes, through the real parser and settings code."""
    values = {"enabled": True, **provider.endpoints, "client_id": provider.client_id, "role_mapping": ROLE_MAPPING,
              **table}
    return django_settings(parse_oidc(values, "test", provider.client_secret),
                           backends=settings.AUTHENTICATION_BACKENDS, csp=settings.CONTENT_SECURITY_POLICY)


def apply_settings(settings, values):
    for name, value in values.items():
        setattr(settings, name, value)


@pytest.fixture
def sso(settings, oidc_provider):
    """Single sign-on on, against the local provider, with password sign-in still on; returns the provider."""
    oidc_provider.reset()
    oidc_provider.redirect_uris = {TEST_CALLBACK}
    apply_settings(settings, sso_settings(settings, oidc_provider))
    yield oidc_provider
    oidc_provider.reset()


def idp_user(username, *groups, **claims):
    """The claims the provider issues for one person; `sub` stays the same across sign-ins."""
    return {"sub": f"subject-{username}", "preferred_username": username, "email": f"{username}@example.invalid",
            "groups": list(groups), **claims}


def start_sign_in(client, provider, next_url=None):
    """Press the SSO button, follow the redirect to the provider over HTTP; the callback's query (a dict)."""
    start = client.get(reverse("oidc:authenticate") + (f"?{urlencode({'next': next_url})}" if next_url else ""))
    assert start.status_code == 302, start.status_code
    assert start["Location"].startswith(provider.endpoints["authorization_endpoint"] + "?")
    answer = requests.get(start["Location"], allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == TEST_CALLBACK
    return {key: values[0] for key, values in parse_qs(back.query).items()}


def finish_sign_in(client, query):
    return client.get(f"{reverse('oidc:callback')}?{urlencode(query)}")


def sign_in_through(client, provider, next_url=None):
    """The whole round trip; the callback's response."""
    return finish_sign_in(client, start_sign_in(client, provider, next_url))
