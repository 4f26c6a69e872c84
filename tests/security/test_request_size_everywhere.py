"""Every URL that takes a POST refuses an oversized body (413) and a body of undeclared length (411) before any
view, form, session or middleware reads it, signed in or not.

tests/foundation/test_request_size.py proves the refusal on a real socket and at Django's own read limit for one
form; this walks every POST-capable pattern of tests/security/url_table.py, so that a new view, or a middleware
placed ahead of the size check that reads request.POST, cannot slip past it.
"""
import pytest
from django.test import Client

from tests.security.routes import PATTERNS, url
from tests.security.url_table import PUBLIC, ROUTES

pytestmark = pytest.mark.django_db
POSTS = [p for p in PATTERNS if p.key in ROUTES and "POST" in ROUTES[p.key].methods]


@pytest.fixture
def small_limit(settings):
    settings.MAX_REQUEST_BODY_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096


@pytest.mark.parametrize("pattern", POSTS, ids=[f"{p.key} {p.route}" for p in POSTS])
def test_every_post_refuses_an_oversized_or_undeclared_body(pattern, world, small_limit):
    client = Client(enforce_csrf_checks=True)  # the CSRF check reads the body: the size check must come first
    if ROUTES[pattern.key].kind != PUBLIC:
        client.force_login(world.root)
    path = url(world, pattern)
    too_large = client.generic("POST", path, b"x=1", content_type="application/x-www-form-urlencoded",
                               CONTENT_LENGTH="4097")
    assert (too_large.status_code, too_large.content) == (413, b"Request body too large: the limit is 4096 bytes.\n")
    chunked = client.generic("POST", path, b"", content_type="application/x-www-form-urlencoded", CONTENT_LENGTH="",
                             HTTP_TRANSFER_ENCODING="chunked")
    assert chunked.status_code == 411, f"{path}: {chunked.status_code}"


@pytest.mark.parametrize("declared", ["abc", "1e3", "0x10"])
def test_an_unreadable_content_length_is_a_400(client, declared, small_limit):
    answer = client.generic("POST", "/accounts/login/", b"", content_type="application/x-www-form-urlencoded",
                            CONTENT_LENGTH=declared)
    assert (answer.status_code, answer.content) == (400, b"Invalid Content-Length.\n")
