"""Idle sessions are signed out (and audited); active ones are not."""
import time

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from secretsadmin.idle_sessions import SESSION_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, role_users, settings):
    settings.SESSION_IDLE_SECONDS = 600
    client.force_login(role_users["alice"])
    assert client.get(reverse("dashboard:home")).status_code == 200
    return client


def last_seen(client, seconds_ago):
    session = client.session
    session[SESSION_KEY] = int(time.time()) - seconds_ago
    session.save()


def test_an_idle_session_is_signed_out(signed_in):
    last_seen(signed_in, 601)
    answer = signed_in.get(reverse("dashboard:home"))
    assert answer.status_code == 302 and answer["Location"].startswith(reverse("login"))
    assert "_auth_user_id" not in signed_in.session
    # The session is gone, not just this request: the next one is signed out too.
    assert signed_in.get(reverse("dashboard:home")).status_code == 302
    event = AuditEvent.objects.get(event_type="auth.session_expired")
    assert (event.actor_name, event.target_text) == ("alice", "alice") and event.details["idle_seconds"] >= 601


def test_an_active_session_stays_and_each_request_keeps_it_alive(signed_in):
    last_seen(signed_in, 590)  # not 599: a second may tick before the request, and 600 is idle
    assert signed_in.get(reverse("dashboard:home")).status_code == 200
    assert int(time.time()) - signed_in.session[SESSION_KEY] < 5  # the clock restarted
    assert not AuditEvent.objects.filter(event_type="auth.session_expired").exists()


def test_requests_within_a_minute_do_not_rewrite_the_session(signed_in):
    last_seen(signed_in, 30)
    seen = signed_in.session[SESSION_KEY]
    assert signed_in.get(reverse("dashboard:home")).status_code == 200
    assert signed_in.session[SESSION_KEY] == seen
