"""Every URL pattern, present and future, requires a login unless it is on the short public list."""
import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

# Views a stranger may reach. Adding a name here is a security decision: say why in review.
# /metrics has no session: its own guard (bearer token or address allow-list) is tested in tests/monitoring.
# The single sign-on redirect and callback come before any session exists (a 404 while [oidc] is off); the
# callback signs nobody in without the state, nonce and PKCE verifier its own session holds (tests/auth).
PUBLIC = {"login", "healthz", "readyz", "metrics", "admin:login", "admin:logout", "oidc:authenticate", "oidc:callback"}

SAMPLES = {"int": "1", "str": "x", "slug": "x", "uuid": str(uuid.uuid4()), "path": "x"}


def _route_to_path(route):
    def fill(match):
        converter = match.group(1) or "str"
        return SAMPLES.get(converter, "x")

    return re.sub(r"<(?:(\w+):)?\w+>", fill, route)


def _regex_to_path(regex):
    path = re.sub(r"\(\?P<\w+>[^)]*\)", "x", regex)
    return path.lstrip("^").rstrip("$").replace("\\", "")


def _walk(patterns, prefix="", namespace=""):
    for entry in patterns:
        pattern = entry.pattern
        if isinstance(pattern, RoutePattern):
            piece = _route_to_path(str(pattern))
        elif isinstance(pattern, RegexPattern):
            piece = _regex_to_path(pattern.regex.pattern)
        else:
            raise AssertionError(f"unknown pattern type {type(pattern)}")
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + piece, ns)
        elif isinstance(entry, URLPattern):
            yield f"{namespace}{entry.name or '<unnamed>'}", "/" + prefix + piece


ALL_URLS = sorted(set(_walk(get_resolver().url_patterns)))
PROTECTED = [(name, path) for name, path in ALL_URLS if name not in PUBLIC]


def test_the_walk_finds_every_section():
    names = {name for name, _ in ALL_URLS}
    for expected in ("dashboard:home", "providers:secret_list", "audit:event_list", "admin:index", "login"):
        assert expected in names
    # A stale entry in PUBLIC would hide nothing today but could silently open a future view.
    assert names >= PUBLIC


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "path"), PROTECTED, ids=[f"{n} {p}" for n, p in PROTECTED])
def test_anonymous_request_is_sent_to_login(client, name, path):
    for method in (client.get, client.post):
        response = method(path)
        assert response.status_code == 302, f"{name} {path} answered {response.status_code} to a stranger"
        # Django's admin sends strangers to its own login form (which also requires staff status).
        logins = ("/accounts/login/", "/admin/login/") if name.startswith("admin:") else ("/accounts/login/",)
        assert response["Location"].startswith(logins), response["Location"]


@pytest.mark.django_db
def test_public_views_are_reachable_without_login(client):
    assert client.get("/accounts/login/").status_code == 200
    assert client.get("/healthz").status_code == 200
