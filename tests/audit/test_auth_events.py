"""Sign-in, sign-out and failed sign-in are audit events; the password never is."""
import json

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from tests.conftest import TEST_PASSWORD


@pytest.mark.django_db
def test_login_logout_and_failures_are_recorded(client, role_users):
    client.post(reverse("login"), {"username": "alice", "password": "not-her-password"})
    client.post(reverse("login"), {"username": "alice", "password": TEST_PASSWORD})
    client.post(reverse("logout"))
    events = list(AuditEvent.objects.order_by("sequence").values_list("event_type", "outcome", "actor_name",
                                                                       "target_text"))
    assert events == [
        ("auth.login_failed", "failure", "anonymous", "alice"),
        ("auth.login", "success", "alice", "alice"),
        ("auth.logout", "success", "alice", "alice"),
    ]


@pytest.mark.django_db
def test_the_attempted_password_is_never_stored(client, role_users):
    client.post(reverse("login"), {"username": "alice", "password": "Sup3r-Secret-Guess"})
    dumped = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert "Sup3r-Secret-Guess" not in dumped
