"""The provider registry: who may see and change what, credential references only, load_providers, tests."""
import io
import json
import logging
import secrets
import string

import pytest
from django.apps import apps
from django.core.management import call_command
from django.urls import reverse

from audit.models import AuditEvent
from providers.models import Provider
from secretsadmin.config import ProviderSpec

pytestmark = pytest.mark.django_db

VAULT_FORM = {"name": "vault-prod", "kind": "vault", "description": "Production Vault", "enabled": "on",
              "sync_interval_minutes": "30",
              "address": "https://vault.example.invalid:8200", "mount": "secret", "auth_source": "env",
              "references": "token=VAULT_TOKEN"}


def _vault_provider(address, **extra):
    return Provider.objects.create(kind="vault", name="vault-live", settings={"address": address, "mount": "secret"},
                                   auth_reference={"method": "env", "variables": {"token": "SA_TEST_VAULT_TOKEN"}},
                                   **extra)


def test_administrator_registers_a_provider_and_it_is_audited(client, role_users):
    client.force_login(role_users["erin"])
    response = client.post(reverse("providers:provider_create"), VAULT_FORM)
    provider = Provider.objects.get(name="vault-prod")
    assert response.status_code == 302 and response["Location"] == provider.get_absolute_url()
    assert provider.settings == {"address": "https://vault.example.invalid:8200", "mount": "secret",
                                 "auth_method": "token"}
    assert provider.auth_reference == {"method": "env", "variables": {"token": "VAULT_TOKEN"}}
    assert provider.sync_interval_minutes == 30
    event = AuditEvent.objects.get(event_type="provider.created")
    assert event.actor_name == "erin" and event.target_text == "vault-prod"


def _random(alphabet, length):
    return "".join(secrets.choice(alphabet) for _ in range(length))


# Credential-shaped values made fresh for each run: the shapes the form must refuse, never a real key.
INLINE_CREDENTIALS = {
    "references": lambda: "token=hvs." + _random(string.ascii_letters + string.digits, 36),
    "endpoint_url": lambda: (f"https://AKIA{_random(string.ascii_uppercase + string.digits, 16)}:"
                             f"{_random(string.ascii_letters, 20)}@secretsmanager.example.invalid"),
    "address": lambda: f"https://admin:{_random(string.ascii_letters + string.digits, 20)}@vault.example.invalid",
    "role_id": lambda: "Ab1" + _random(string.ascii_letters + string.digits, 40),
}


@pytest.mark.parametrize("field", list(INLINE_CREDENTIALS))
def test_inline_credentials_are_refused_and_nothing_is_stored(client, role_users, field):
    value = INLINE_CREDENTIALS[field]()
    client.force_login(role_users["erin"])
    response = client.post(reverse("providers:provider_create"), {**VAULT_FORM, field: value})
    assert response.status_code == 200
    assert not Provider.objects.exists()
    body = response.content.decode()
    assert "looks like a credential" in body or "environment variable name" in body
    assert value not in body, "a rejected credential must not be echoed back"


def test_bad_settings_give_form_errors(client, role_users):
    client.force_login(role_users["erin"])
    response = client.post(reverse("providers:provider_create"), {**VAULT_FORM, "address": "ftp://nope"})
    assert response.status_code == 200 and "must be an http or https:// URL" in response.content.decode()
    response = client.post(reverse("providers:provider_create"), {**VAULT_FORM, "kind": "aws"})
    assert "region is required" in response.content.decode()
    assert not Provider.objects.exists()


@pytest.mark.parametrize("field", ["mount", "namespace"])
def test_a_vault_mount_or_namespace_with_dot_segments_is_a_form_error(client, role_users, field):
    client.force_login(role_users["erin"])
    response = client.post(reverse("providers:provider_create"), {**VAULT_FORM, field: "secret/../../sys"})
    assert response.status_code == 200 and f"{field} must be a path like team/kv" in response.content.decode()
    assert not Provider.objects.exists()


def test_duplicate_names_are_a_form_error(client, role_users):
    client.force_login(role_users["erin"])
    client.post(reverse("providers:provider_create"), VAULT_FORM)
    response = client.post(reverse("providers:provider_create"), VAULT_FORM)
    assert response.status_code == 200 and "already exists" in response.content.decode()
    assert Provider.objects.count() == 1


def test_viewer_sees_names_and_health_but_cannot_change_or_test(client, role_users):
    provider = Provider.objects.create(kind="aws", name="aws-prod", settings={"region": "eu-west-1"})
    client.force_login(role_users["alice"])
    assert client.get(reverse("providers:provider_list")).status_code == 200
    detail = client.get(provider.get_absolute_url())
    assert detail.status_code == 200 and "Test connection" not in detail.content.decode()
    assert client.get(reverse("providers:provider_create")).status_code == 403
    assert client.get(reverse("providers:provider_edit", args=[provider.uuid])).status_code == 403
    assert client.post(reverse("providers:provider_test", args=[provider.uuid])).status_code == 403


def test_strangers_get_403_on_the_list_and_404_on_objects(client, mallory):
    provider = Provider.objects.create(kind="aws", name="aws-prod", settings={"region": "eu-west-1"})
    client.force_login(mallory)
    assert client.get(reverse("providers:provider_list")).status_code == 403
    for name in ("provider_detail", "provider_edit"):
        assert client.get(reverse(f"providers:{name}", args=[provider.uuid])).status_code == 404
    assert client.post(reverse("providers:provider_test", args=[provider.uuid])).status_code == 404


def test_configuration_managed_providers_are_not_editable_in_the_ui(client, role_users):
    provider = Provider.objects.create(kind="aws", name="aws-prod", settings={"region": "eu-west-1"},
                                       managed_by_config=True, auth_reference={"method": "config"})
    client.force_login(role_users["erin"])
    assert client.get(reverse("providers:provider_edit", args=[provider.uuid])).status_code == 403
    assert "Edit" not in client.get(provider.get_absolute_url()).content.decode().split("</h1>")[1][:400]


def test_edit_records_what_changed(client, role_users):
    client.force_login(role_users["erin"])
    client.post(reverse("providers:provider_create"), VAULT_FORM)
    provider = Provider.objects.get()
    client.post(reverse("providers:provider_edit", args=[provider.uuid]), {**VAULT_FORM, "namespace": "team-a"})
    event = AuditEvent.objects.get(event_type="provider.changed")
    assert event.details["changed"] == ["settings"]
    assert event.details["after"]["settings"]["namespace"] == "team-a"


def test_load_providers_is_idempotent(settings):
    specs = [
        ProviderSpec("vault", "vault", True, "", {"address": "http://localhost:8200", "mount": "secret",
                                                   "auth_method": "token"}, {"token": "config-only-token"}, "x"),
        ProviderSpec("aws-prod", "aws", True, "Prod", {"region": "eu-west-1"}, {}, "x"),
    ]
    settings.CONFIG = type(settings.CONFIG)(**{**settings.CONFIG.__dict__, "providers": specs})
    out = io.StringIO()
    call_command("load_providers", stdout=out)
    assert "2 created" in out.getvalue()
    out = io.StringIO()
    call_command("load_providers", stdout=out)
    assert "0 created, 0 changed, 2 unchanged" in out.getvalue()
    assert AuditEvent.objects.filter(event_type="provider.created").count() == 2
    assert not AuditEvent.objects.filter(event_type="provider.changed").exists()
    vault = Provider.objects.get(name="vault")
    assert vault.managed_by_config and vault.auth_reference == {"method": "config"}
    assert "config-only-token" not in json.dumps(list(Provider.objects.values()), default=str)


def test_connection_test_against_real_openbao_is_audited(client, role_users, vault, monkeypatch):
    monkeypatch.setenv("SA_TEST_VAULT_TOKEN", vault.root.token)
    provider = _vault_provider(vault.root.url)
    client.force_login(role_users["erin"])
    response = client.post(reverse("providers:provider_test", args=[provider.uuid]), follow=True)
    assert "Connection test of vault-live: token valid" in response.content.decode()
    monkeypatch.setenv("SA_TEST_VAULT_TOKEN", "not-a-real-token")
    response = client.post(reverse("providers:provider_test", args=[provider.uuid]), follow=True)
    assert "AuthenticationFailed" in response.content.decode()
    outcomes = list(AuditEvent.objects.filter(event_type="provider.connection_tested").order_by("sequence")
                    .values_list("outcome", "details"))
    assert outcomes == [("success", {"error_class": None}), ("failure", {"error_class": "AuthenticationFailed"})]


def test_test_provider_command(vault, monkeypatch):
    monkeypatch.setenv("SA_TEST_VAULT_TOKEN", vault.root.token)
    _vault_provider(vault.root.url)
    out = io.StringIO()
    call_command("test_provider", "vault-live", stdout=out)
    assert out.getvalue().startswith("vault-live: ok")
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="no provider named 'nope'"):
        call_command("test_provider", "nope")


def test_no_credential_is_persisted_logged_or_rendered(client, role_users, vault, monkeypatch, caplog):
    token = vault.root.token
    monkeypatch.setenv("SA_TEST_VAULT_TOKEN", token)
    client.force_login(role_users["erin"])
    with caplog.at_level(logging.DEBUG):
        client.post(reverse("providers:provider_create"), {**VAULT_FORM, "name": "vault-live",
                                                           "address": vault.root.url,
                                                           "references": "token=SA_TEST_VAULT_TOKEN"})
        provider = Provider.objects.get(name="vault-live")
        pages = [client.post(reverse("providers:provider_test", args=[provider.uuid]), follow=True),
                 client.get(provider.get_absolute_url()), client.get(reverse("providers:provider_list")),
                 client.get(reverse("audit:event_list"))]
    assert "token valid" in pages[0].content.decode()
    for page in pages:
        assert token not in page.content.decode()
    assert all(token not in record.getMessage() for record in caplog.records)
    for model in (m for m in apps.get_models() if m._meta.managed and not m._meta.proxy):
        dumped = json.dumps(list(model.objects.values()), default=str)
        assert token not in dumped, f"{model._meta.label} holds the token"
