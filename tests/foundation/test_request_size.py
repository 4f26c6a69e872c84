"""Request bodies over MAX_REQUEST_BODY_BYTES are refused with 413 and a one-line message; nothing is stored."""
import http.client
from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from providers.models import Provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_limit(settings):
    settings.MAX_REQUEST_BODY_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096


def create_provider_form(name, padding):
    """A valid "new provider" form, padded with a field the form ignores."""
    return {"kind": "vault", "name": name, "enabled": "on", "sync_interval_minutes": "60",
            "address": "http://127.0.0.1:8200", "mount": "secret", "auth_source": "env",
            "references": "token=VAULT_TOKEN", "padding": "x" * padding}


def test_a_too_large_post_to_a_real_form_is_refused_with_413(client, role_users, small_limit):
    client.force_login(role_users["erin"])
    url = reverse("providers:provider_create")
    answer = client.post(url, create_provider_form("too-large", 5000))
    assert answer.status_code == 413
    assert answer.content.decode() == "Request body too large: the limit is 4096 bytes.\n"
    assert not Provider.objects.filter(name="too-large").exists()
    assert not AuditEvent.objects.filter(event_type="provider.created").exists()


def test_a_body_within_the_limit_still_reaches_the_form(client, role_users, small_limit):
    client.force_login(role_users["erin"])
    answer = client.post(reverse("providers:provider_create"), create_provider_form("fits", 10))
    assert answer.status_code == 302 and Provider.objects.filter(name="fits").exists()


def test_a_body_that_outgrows_djangos_read_limit_is_413_not_400(client, role_users, settings):
    # The declared length passes the middleware; Django's own limit trips while the form is read.
    settings.MAX_REQUEST_BODY_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000_000, 4096
    client.force_login(role_users["erin"])
    answer = client.post(reverse("providers:provider_create"), create_provider_form("read-limit", 5000))
    assert answer.status_code == 413 and "too large" in answer.content.decode()
    assert not Provider.objects.filter(name="read-limit").exists()


def raw_post(live_server, path, headers, body=b""):
    """Sends a POST over a real socket, bypassing the test client's honest Content-Length.

    A body of undeclared length is not sent at all: the refusal must come from the headers alone, and a body the
    server never reads would race its close (the kernel may reset the connection and drop the answer, which is
    how this test once failed in CI). A declared body is sent whole: Django's server drains it before closing."""
    address = urlsplit(live_server.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    connection.putrequest("POST", path)
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.endheaders()
    if body:
        connection.send(body)
    answer = connection.getresponse()
    return answer.status, answer.read().decode()


@pytest.mark.django_db(transaction=True)
def test_a_body_without_a_content_length_is_refused_unread(live_server, small_limit):
    status, text = raw_post(live_server, reverse("login"), {
        "Transfer-Encoding": "chunked", "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 411 and text == "A request body must declare its length (Content-Length).\n"
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_large_body_over_a_real_socket_is_refused(live_server, small_limit):
    body = b"username=alice&password=" + b"x" * 50_000
    status, text = raw_post(live_server, reverse("login"), {
        "Content-Length": str(len(body)), "Content-Type": "application/x-www-form-urlencoded"}, body)
    assert status == 413 and text == "Request body too large: the limit is 4096 bytes.\n"
    assert not AuditEvent.objects.exists()
