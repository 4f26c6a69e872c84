"""Editing a secret's metadata and creating a secret from the dashboard, against a real OpenBao."""
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
def vault_provider(vault, monkeypatch):
    monkeypatch.setenv("SA_CREATE_TEST_TOKEN", vault.root.token)
    return Provider.objects.create(kind="vault", name="vault-create", settings={"address": vault.root.url},
                                   auth_reference={"method": "env", "variables": {"token": "SA_CREATE_TEST_TOKEN"}})


def test_metadata_edit_is_audited_with_before_and_after(client, role_users, vault_provider):
    secret = Secret.objects.create(provider=vault_provider, name="apps/x#password", owner="old-team")
    client.force_login(role_users["erin"])
    response = client.post(reverse("providers:secret_edit", args=[secret.uuid]),
                           {"owner": "payments", "environment": "prod", "description": "", "tags": "tier=1\npci=yes"})
    assert response.status_code == 302
    secret.refresh_from_db()
    assert (secret.owner, secret.environment, secret.tags) == ("payments", "prod", {"tier": "1", "pci": "yes"})
    event = AuditEvent.objects.get(event_type="secret.metadata_changed")
    assert event.details["changed"] == ["environment", "owner", "tags"]
    assert event.details["before"]["owner"] == "old-team" and event.details["after"]["owner"] == "payments"


def test_metadata_edit_needs_the_change_permission(client, role_users, mallory, vault_provider):
    secret = Secret.objects.create(provider=vault_provider, name="apps/y#password")
    client.force_login(role_users["alice"])
    assert client.get(reverse("providers:secret_edit", args=[secret.uuid])).status_code == 403
    assign_perm("providers.change_provider_secrets", mallory, vault_provider)
    assign_perm("providers.view_provider", mallory, vault_provider)
    client.force_login(mallory)
    assert client.get(reverse("providers:secret_edit", args=[secret.uuid])).status_code == 200


def test_bad_tags_are_a_form_error_and_nothing_changes(client, role_users, vault_provider):
    secret = Secret.objects.create(provider=vault_provider, name="apps/z#password", tags={"keep": "me"})
    client.force_login(role_users["erin"])
    response = client.post(reverse("providers:secret_edit", args=[secret.uuid]),
                           {"owner": "", "environment": "", "description": "", "tags": "no equals sign"})
    assert response.status_code == 200 and "write key=value" in response.content.decode()
    secret.refresh_from_db()
    assert secret.tags == {"keep": "me"}


def test_creating_a_secret_puts_the_value_in_the_provider_only(client, role_users, vault, vault_provider):
    name, value = f"created/{uuid.uuid4().hex[:8]}#password", f"s3cr3t-{uuid.uuid4().hex}"
    client.force_login(role_users["erin"])
    response = client.post(reverse("providers:secret_create"), {
        "provider": str(vault_provider.uuid), "name": name, "value": value, "confirm": value,
        "owner": "payments", "environment": "prod", "description": ""})
    secret = Secret.objects.get(name=name)
    assert response.status_code == 302 and response["Location"] == secret.get_absolute_url()
    path = name.split("#")[0]
    stored = vault.root.secrets.kv.v2.read_secret_version(path, raise_on_deleted_version=True)
    assert stored["data"]["data"]["password"] == value
    for model in (m for m in apps.get_models() if m._meta.managed and not m._meta.proxy):
        assert value not in json.dumps(list(model.objects.values()), default=str), model._meta.label
    assert AuditEvent.objects.get(event_type="secret.creation").outcome == "success"


def test_a_refused_creation_never_echoes_the_value(client, role_users, vault_provider):
    value = f"s3cr3t-{uuid.uuid4().hex}"
    client.force_login(role_users["erin"])
    response = client.post(reverse("providers:secret_create"), {
        "provider": str(vault_provider.uuid), "name": "no-key-separator", "value": value, "confirm": value})
    body = response.content.decode()
    assert response.status_code == 200 and "InvalidFormat" in body and value not in body
    assert not Secret.objects.exists()
    assert AuditEvent.objects.get(event_type="secret.creation").outcome == "failure"


def test_mismatched_values_are_a_form_error(client, role_users, vault_provider):
    client.force_login(role_users["erin"])
    response = client.post(reverse("providers:secret_create"), {
        "provider": str(vault_provider.uuid), "name": "a/b#c", "value": "one-value-123", "confirm": "other"})
    assert "The two values differ" in response.content.decode() and "one-value-123" not in response.content.decode()


def test_viewers_may_not_create(client, role_users, vault_provider):
    client.force_login(role_users["alice"])
    assert client.get(reverse("providers:secret_create")).status_code == 403


def test_revoking_a_secret_makes_it_unusable_and_is_audited(client, role_users, vault, vault_provider):
    path = f"revoke/{uuid.uuid4().hex[:8]}"
    vault.root.secrets.kv.v2.create_or_update_secret(path, secret={"password": "to-be-revoked"})
    secret = Secret.objects.create(provider=vault_provider, name=f"{path}#password")
    client.force_login(role_users["erin"])
    wrong = client.post(reverse("providers:secret_revoke", args=[secret.uuid]),
                        {"confirm_name": "something else", "reason": "decommissioned service"})
    assert wrong.status_code == 200 and "does not match" in wrong.content.decode()
    response = client.post(reverse("providers:secret_revoke", args=[secret.uuid]),
                           {"confirm_name": secret.name, "reason": "decommissioned service"})
    assert response.status_code == 302
    secret.refresh_from_db()
    assert secret.status == "disabled"
    from providers.adapters.base import NotFound
    from providers.registry import adapter_for

    with pytest.raises(NotFound):
        adapter_for(vault_provider).get_secret(secret.name)
    event = AuditEvent.objects.get(event_type="secret.deletion")
    assert (event.outcome, event.details) == ("success", {"reason": "decommissioned service"})


def test_viewers_may_not_revoke(client, role_users, vault_provider):
    secret = Secret.objects.create(provider=vault_provider, name="apps/keep#password")
    client.force_login(role_users["alice"])
    assert client.post(reverse("providers:secret_revoke", args=[secret.uuid]),
                       {"confirm_name": secret.name, "reason": "just trying this"}).status_code == 403
