"""The access battery, generated from the URL patterns and the classification in tests/security/url_table.py.

Objects are real (made through the services, tests/security/world.py). For every pattern of its kind: an
object is a 404 to who may not see it (mallory, and oscar who holds grants elsewhere), the same as a made-up id;
an action on a visible object (or on a section) is a 403 without the permission and changes nothing; a POST
without a CSRF token is a 403 even for a superuser; role pages refuse a user without a role; the admin and the
job queues let in staff and Administrators only. Strangers are sent to the login page by
tests/foundation/test_login_required.py, which walks the same patterns; this module only checks that both agree
on what is public.
"""
import re

import pytest
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from django.urls import reverse

from tests.foundation.test_login_required import PUBLIC as LOGIN_FREE
from tests.security import fingerprint
from tests.security.routes import PATTERNS, url
from tests.security.url_table import ACTION, ADMIN, CATALOG, OBJECT, OBJECT_ACTION, PAGE, PUBLIC, ROUTES, RQ

pytestmark = pytest.mark.django_db
CSRF_FAILURE = b"CSRF verification failed"
# The page that shows each kind of World object (the object's own page, where a "seer" must get a 200).
DETAIL_PAGES = {**{kind: f"providers:{kind}_detail" for kind in ("provider", "secret")},
                **dict.fromkeys(("rotation", "emergency"), "rotation:request_detail"),
                "policy": "rotation:policy_detail", "report": "compliance:snapshot_detail"}


def patterns_of(*kinds, where=lambda route: True):
    chosen = [p for p in PATTERNS if p.key in ROUTES and ROUTES[p.key].kind in kinds and where(ROUTES[p.key])]
    return pytest.mark.parametrize("pattern", chosen, ids=[f"{p.key} {p.route}" for p in chosen])


def test_every_url_pattern_is_classified():
    keys = {pattern.key for pattern in PATTERNS}
    unclassified = sorted(keys - set(ROUTES))
    assert not unclassified, f"URL patterns without a decision in tests/security/url_table.py: {unclassified}"
    stale = sorted(set(ROUTES) - keys)
    assert not stale, f"tests/security/url_table.py classifies patterns that no longer exist: {stale}"
    public = {key for key, route in ROUTES.items() if route.kind == PUBLIC}
    assert public == set(LOGIN_FREE), "the public views here and in tests/foundation/test_login_required.py differ"


def call(client, method, path, data=None):
    return client.post(path, data or {}) if method == "POST" else client.get(path)


def _text(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


def _comparable(response):
    """Status and page, without the per-render CSRF token (the navigation's sign-out form carries one)."""
    return response.status_code, re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", _text(response))


# ---------------------------------------------------------------------------------------------------- objects


@patterns_of(OBJECT, OBJECT_ACTION)
def test_an_object_is_a_404_to_who_may_not_see_it(pattern, world, client):
    route = ROUTES[pattern.key]
    real, made_up = url(world, pattern), url(world, pattern, real=False)
    for user in (world["mallory"], world.outsider):
        client.force_login(user)
        for method in route.methods:
            answer, other = call(client, method, real), call(client, method, made_up)
            expected = 403 if route.gate == "role" else 404
            assert answer.status_code == expected, f"{user} {method} {real}: {answer.status_code}"
            assert _comparable(other) == _comparable(answer), \
                f"{user} {method}: a real id and a made-up one are told apart"
    # Not vacuous: the same URL reaches the object for someone allowed everything.
    client.force_login(world.root)
    assert call(client, route.methods[0], real).status_code not in (403, 404)


@patterns_of(OBJECT_ACTION, where=lambda route: route.seer)
def test_an_action_on_a_visible_object_is_a_403_without_the_permission(pattern, world, client):
    route = ROUTES[pattern.key]
    obj = getattr(world, route.obj)
    client.force_login(world[route.seer])
    assert client.get(reverse(DETAIL_PAGES[route.obj], args=[obj.uuid])).status_code == 200  # it is visible
    path = url(world, pattern)
    for method in route.methods:
        before = fingerprint.take()
        answer = call(client, method, path)
        assert answer.status_code == 403, f"{route.seer} {method} {path}: {answer.status_code}"
        difference = fingerprint.compare(before, fingerprint.take())
        assert not (difference.lost or difference.altered or difference.added_outside(fingerprint.APPEND_ONLY))


# ---------------------------------------------------------------------------------------------------- CSRF


def _has_post(route):
    return "POST" in route.methods


@patterns_of(PUBLIC, ACTION, OBJECT_ACTION, ADMIN, RQ, where=_has_post)
def test_a_post_without_a_csrf_token_is_a_403_even_for_a_superuser(pattern, world):
    route = ROUTES[pattern.key]
    client = Client(enforce_csrf_checks=True)
    if route.kind != PUBLIC:
        client.force_login(world.root)
    path = url(world, pattern)
    refused = client.post(path)
    assert refused.status_code == 403 and CSRF_FAILURE in refused.content, f"POST {path}: {refused.status_code}"
    # Not vacuous: with the token the same POST gets past the check (to whatever the view answers to an empty
    # form; django-rq's requeue of a job that never failed is a 500, tested below).
    token = _get_new_csrf_string()
    client.cookies["csrftoken"] = token
    client.raise_request_exception = False
    accepted = client.post(path, HTTP_X_CSRFTOKEN=token)
    assert CSRF_FAILURE not in _text(accepted), f"POST {path} with a token still failed the CSRF check"


# ---------------------------------------------------------------------------------------------------- pages


@patterns_of(PAGE, ACTION)
def test_a_page_refuses_a_user_without_a_role(pattern, world, client):
    route = ROUTES[pattern.key]
    path = url(world, pattern)
    client.force_login(world["mallory"])
    for method in route.methods:
        expected = route.mallory[method] if isinstance(route.mallory, dict) else route.mallory
        assert call(client, method, path).status_code == expected, f"mallory {method} {path}"


@patterns_of(ACTION, where=lambda route: route.seer)
def test_a_section_action_is_a_403_to_a_role_without_its_permission(pattern, world, client):
    route = ROUTES[pattern.key]
    client.force_login(world[route.seer])
    path = url(world, pattern)
    for method in route.methods:
        before = fingerprint.take()
        assert call(client, method, path).status_code == 403, f"{route.seer} {method} {path}"
        difference = fingerprint.compare(before, fingerprint.take())
        assert not (difference.lost or difference.altered or difference.added_outside(fingerprint.APPEND_ONLY))


@patterns_of(PAGE, where=lambda route: route.hides)
def test_a_list_hides_what_the_viewer_may_not_see(pattern, world, client):
    route = ROUTES[pattern.key]
    path = url(world, pattern)
    names = [getattr(world, attribute) for attribute in route.hides]
    names = [getattr(obj, "name", None) or obj.secret.name for obj in names]
    client.force_login(world.root)
    page = client.get(path).content.decode()
    assert all(name in page for name in names)  # not vacuous: listed for someone allowed everything
    client.force_login(world.outsider)
    answer = client.get(path)
    assert answer.status_code in (200, 403)
    assert not any(name in answer.content.decode() for name in names), f"{path} lists objects oscar may not see"


@patterns_of(CATALOG)
def test_a_catalog_page_is_for_its_role_and_an_unknown_slug_is_a_404(pattern, world, client):
    client.force_login(world["mallory"])
    assert client.get(url(world, pattern)).status_code == 403
    client.force_login(world["dana"])
    assert client.get(url(world, pattern)).status_code == 200
    assert client.get(url(world, pattern, real=False)).status_code == 404


# ---------------------------------------------------------------------------------------------------- admin, RQ


@patterns_of(ADMIN)
def test_the_admin_sends_a_signed_in_non_staff_user_to_its_login_whatever_the_id(pattern, world, client):
    route = ROUTES[pattern.key]
    real, made_up = url(world, pattern), url(world, pattern, real=False)
    for user in (world["mallory"], world["alice"]):
        client.force_login(user)
        for method in route.methods:
            answer, other = call(client, method, real), call(client, method, made_up)
            assert answer.status_code == other.status_code
            assert answer.status_code == 302 and answer["Location"].startswith("/admin/login/"), \
                f"{user} {method} {real}: {answer.status_code}"
    client.force_login(world.root)
    answer = client.get(real)
    assert not (answer.status_code == 302 and answer["Location"].startswith("/admin/login/"))


@patterns_of(RQ)
def test_the_job_queues_are_for_administrators_only(pattern, world, client):
    route = ROUTES[pattern.key]
    path = url(world, pattern)
    for name in ("mallory", "alice", "dana"):
        client.force_login(world[name])
        for method in route.methods:
            assert call(client, method, path).status_code == 403, f"{name} {method} {path}"
    client.force_login(world["erin"])
    assert call(client, route.methods[0], path).status_code not in (403, 500)


# django-rq's own views raise for a job or worker that is gone (a stale link) and for the scheduler page without
# rq-scheduler; secretsadmin/urls.py's wrapper answers those with a 404 that says why.
RQ_UNKNOWN = [
    ("django_rq:delete_job", "POST"), ("django_rq:requeue_job", "POST"), ("django_rq:enqueue_job", "POST"),
    ("django_rq:worker_details", "GET"), ("django_rq:scheduler_jobs", "GET"),
]


@pytest.mark.parametrize(("name", "method"), RQ_UNKNOWN)
def test_the_job_queue_pages_answer_an_unknown_id_with_a_404(name, method, world):
    pattern = next(p for p in PATTERNS if p.key == name)
    client = Client(raise_request_exception=False)
    client.force_login(world["erin"])
    assert call(client, method, url(world, pattern, real=False)).status_code == 404
