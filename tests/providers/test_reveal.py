"""The audited reveal, against a real OpenBao: permission, reason, no-store, audit trail, rate limit."""
import json
import uuid

import pytest
from django.apps import apps
from django.urls import reverse
from guardian.shortcuts import assign_perm

from audit.models import AuditEvent
from providers.models import Provider, Secret

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(vault, monkeypatch):
    """A secret in OpenBao with a recognisable value, and its inventory row."""
    monkeypatch.setenv("SA_REVEAL_TEST_TOKEN", vault.root.token)
    path, value = f"reveal/{uuid.uuid4().hex[:8]}", f"s3cr3t-{uuid.uuid4().hex}"
    vault.root.secrets.kv.v2.create_or_update_secret(path, secret={"password": value})
    provider = Provider.objects.create(kind="vault", name="vault-reveal", settings={"address": vault.root.url},
                                       auth_reference={"method": "env", "variables": {"token": "SA_REVEAL_TEST_TOKEN"}})
    return Secret.objects.create(provider=provider, name=f"{path}#password"), value


def url(secret):
    return reverse("providers:secret_reveal", args=[secret.uuid])


def test_a_granted_user_sees_the_value_once_and_it_is_audited(client, role_users, stored):
    secret, value = stored
    alice = role_users["alice"]
    assign_perm("providers.reveal_secret", alice, secret)
    client.force_login(alice)
    page = client.get(url(secret))
    assert page.status_code == 200 and value not in page.content.decode()
    response = client.post(url(secret), {"reason": "INC-4711 database outage"})
    assert response.status_code == 200
    assert value in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    event = AuditEvent.objects.get(event_type="secret.retrieval")
    assert (event.actor_name, event.outcome, event.secret_name) == ("alice", "success", secret.name)
    assert event.details == {"via": "reveal", "reason": "INC-4711 database outage"}
    shown = AuditEvent.objects.get(event_type="secret.revealed")
    assert shown.sequence == event.sequence + 1 and shown.details == {"reason": "INC-4711 database outage"}


def test_the_value_is_never_stored_anywhere(client, role_users, stored):
    secret, value = stored
    assign_perm("providers.reveal_provider_secrets", role_users["alice"], secret.provider)
    client.force_login(role_users["alice"])
    client.post(url(secret), {"reason": "quarterly credential check"})
    for model in (m for m in apps.get_models() if m._meta.managed and not m._meta.proxy):
        assert value not in json.dumps(list(model.objects.values()), default=str), model._meta.label


def test_a_reason_is_required(client, role_users, stored):
    secret, value = stored
    assign_perm("providers.reveal_secret", role_users["alice"], secret)
    client.force_login(role_users["alice"])
    response = client.post(url(secret), {"reason": ""})
    assert response.status_code == 400 and value not in response.content.decode()
    assert not AuditEvent.objects.filter(event_type="secret.retrieval").exists()


def test_without_the_permission_it_is_refused_and_recorded(client, role_users, stored):
    secret, value = stored
    client.force_login(role_users["alice"])  # may view, may not reveal
    response = client.post(url(secret), {"reason": "curious about the value"})
    assert response.status_code == 403 and value not in response.content.decode()
    event = AuditEvent.objects.get(event_type="secret.retrieval")
    assert (event.outcome, event.failure_reason) == ("failure", "permission denied")
    assert not AuditEvent.objects.filter(event_type="secret.revealed").exists()


def test_strangers_get_404(client, mallory, stored):
    client.force_login(mallory)
    assert client.post(url(stored[0]), {"reason": "looking around here"}).status_code == 404


def test_a_provider_failure_is_shown_and_recorded(client, role_users, stored, monkeypatch):
    secret, _ = stored
    assign_perm("providers.reveal_secret", role_users["alice"], secret)
    monkeypatch.setenv("SA_REVEAL_TEST_TOKEN", "expired-token")
    client.force_login(role_users["alice"])
    response = client.post(url(secret), {"reason": "INC-4712 after rotation"})
    assert response.status_code == 502 and "AuthenticationFailed" in response.content.decode()
    assert AuditEvent.objects.get(event_type="secret.retrieval").failure_reason == "AuthenticationFailed"


def test_reveals_are_rate_limited_per_user(client, role_users, stored, settings):
    from django.core.cache import cache

    cache.clear()
    settings.REVEAL_RATE = "2/h"
    secret, value = stored
    assign_perm("providers.reveal_secret", role_users["alice"], secret)
    client.force_login(role_users["alice"])
    answers = [client.post(url(secret), {"reason": f"check number {i} of three"}).status_code for i in range(3)]
    assert answers == [200, 200, 429]
    refused = AuditEvent.objects.filter(event_type="secret.retrieval", outcome="failure").get()
    assert refused.failure_reason == "rate limited"
