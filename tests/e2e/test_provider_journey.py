"""An Administrator registers an OpenBao provider through the form, tests its connection, syncs it through a real
worker on the "sync" queue, and watches the inventory grow by the secrets the test seeded in OpenBao.
"""
import re
import uuid

import pytest
from playwright.sync_api import expect

from audit.models import AuditEvent
from providers.models import Provider
from tests.e2e.pages import nav, total
from tests.rotation.conftest import write

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
TOKEN_VARIABLE = "SA_E2E_VAULT_TOKEN"  # the provider keeps this name; the token itself stays in the environment
# path -> key: the secrets seeded in the new mount, each listed in the inventory as "path#key".
SEEDED = {"web/session": "signing_key", "web/oauth": "client_secret", "jobs/smtp": "password",
          "ops/backup": "passphrase"}


def test_an_administrator_registers_tests_and_syncs_a_provider(sign_in, artifacts, start_worker, vault, kv_mount,
                                                               role_users, monkeypatch):
    values = {path: f"seeded-{uuid.uuid4().hex}" for path in SEEDED}
    for path, key in SEEDED.items():
        write(vault, kv_mount, path, **{key: values[path]})
    monkeypatch.setenv(TOKEN_VARIABLE, vault.root.token)  # for the live server, which runs in this process
    start_worker("default", "sync", "reports", env={TOKEN_VARIABLE: vault.root.token})
    name = f"bao-{kv_mount}"

    erin = sign_in("erin")
    nav(erin, "Inventory")
    before = total(erin)
    artifacts.shot(erin, "inventory-before")

    nav(erin, "Providers")
    erin.get_by_role("link", name="Register a provider").click()
    erin.get_by_label("Name", exact=True).fill(name)
    erin.get_by_label("Kind").select_option(label="HashiCorp Vault / OpenBao")
    erin.get_by_label("Description").fill("Local OpenBao seeded by the browser journey")
    erin.get_by_label("Vault address").fill(vault.server.url)
    erin.get_by_label("KV v2 mount").fill(kv_mount)
    erin.get_by_label("Vault auth method").select_option(label="Token")
    erin.get_by_label("Credentials come from").select_option(label="Environment variables (names below)")
    erin.get_by_label("Credential references").fill(f"token={TOKEN_VARIABLE}")
    artifacts.shot(erin, "provider-form")
    erin.get_by_role("button", name="Register").click()
    expect(erin.get_by_role("alert")).to_contain_text(f"Provider {name} registered.")
    expect(erin.get_by_role("heading", level=1)).to_contain_text(name)
    expect(erin.get_by_text("Never synced.")).to_be_visible()
    provider = Provider.objects.get(name=name)
    assert provider.auth_reference == {"method": "env", "variables": {"token": TOKEN_VARIABLE}}
    artifacts.shot(erin, "provider-registered")

    erin.get_by_role("button", name="Test connection").click()
    tested = erin.get_by_role("alert").filter(has_text=f"Connection test of {name}:")
    expect(tested).to_contain_text("token valid")
    expect(tested).to_have_class(re.compile(r"\balert-success\b"))
    artifacts.shot(erin, "connection-tested")

    erin.get_by_role("button", name="Sync now").click()
    expect(erin.get_by_role("alert")).to_contain_text(f"Sync of {name} queued")
    artifacts.shot(erin, "sync-queued")
    # The sync card follows the worker by itself (htmx polling): no reload, which the marker proves.
    erin.evaluate("window.journeyMarker = 'still the same page'")
    card = erin.locator("#sync-status")
    expect(card).to_have_attribute("data-busy", "false", timeout=60_000)
    expect(card.get_by_text("ok", exact=True)).to_be_visible()  # the last sync's badge
    assert erin.evaluate("window.journeyMarker") == "still the same page"
    synced = AuditEvent.objects.get(event_type="inventory.synced", provider=name)
    assert (synced.actor_type, synced.details["created"]) == ("worker", len(SEEDED))  # by the worker process
    artifacts.shot(erin, "sync-finished")
    card.get_by_role("link", name=f"{len(SEEDED)} secrets", exact=True).click()
    expect(erin.get_by_text(f"{len(SEEDED)} in total.")).to_be_visible()
    for path, key in SEEDED.items():
        expect(erin.get_by_role("link", name=f"{path}#{key}", exact=True)).to_be_visible()
    artifacts.shot(erin, "provider-inventory")

    nav(erin, "Inventory")
    expect(erin.get_by_text(f"{before + len(SEEDED)} in total.")).to_be_visible()
    artifacts.shot(erin, "inventory-after")

    artifacts.assert_never_shown(vault.root.token, *values.values())
