"""Inventory sync against a real provider (OpenBao): new, changed, missing, drift, failures, and the lock."""
import io
import subprocess
import uuid

import django_rq
import pytest
from django.core.management import call_command
from django.urls import reverse

from audit.models import AuditEvent
from providers.adapters.base import SecretMetadata
from providers.models import Provider, Secret
from providers.sync import SyncResult, _apply_page, claim, sync_provider
from tests.conftest import BASE_DIR, MANAGE, PYTHON
from tests.servers.openbao import enable_kv2

pytestmark = pytest.mark.django_db


@pytest.fixture
def mount(vault):
    """A KV v2 mount of this test's own, so other tests' secrets stay out of the listing."""
    name = f"kv-{uuid.uuid4().hex[:8]}"
    enable_kv2(vault.root, name)
    yield name
    vault.root.sys.disable_secrets_engine(name)


@pytest.fixture
def vault_provider(vault, mount, monkeypatch):
    monkeypatch.setenv("SA_SYNC_TEST_TOKEN", vault.root.token)
    return Provider.objects.create(
        kind="vault", name="vault-sync", settings={"address": vault.root.url, "mount": mount},
        auth_reference={"method": "env", "variables": {"token": "SA_SYNC_TEST_TOKEN"}},
    )


def write(vault, mount, path, **data):
    vault.root.secrets.kv.v2.create_or_update_secret(path, secret=data, mount_point=mount)


def test_first_sync_creates_rows_with_metadata_only(vault, mount, vault_provider):
    write(vault, mount, "apps/billing/db", password="first-value-123", user="billing")
    write(vault, mount, "apps/search/api", key="second-value-456")
    result = sync_provider(vault_provider.pk, actor="system")
    assert (result.ok, result.created, result.missing) == (True, 3, 0)
    names = set(Secret.objects.values_list("name", flat=True))
    assert names == {"apps/billing/db#password", "apps/billing/db#user", "apps/search/api#key"}
    row = Secret.objects.get(name="apps/billing/db#password")
    assert row.current_version == "1" and row.status == "active" and row.provider_updated_at is not None
    dumped = str(list(Secret.objects.values()))
    assert "first-value-123" not in dumped and "second-value-456" not in dumped
    vault_provider.refresh_from_db()
    assert vault_provider.last_sync_ok and vault_provider.sync_started_at is None


def test_out_of_band_change_and_missing_secrets_are_recorded(vault, mount, vault_provider):
    write(vault, mount, "apps/a", password="v1")
    write(vault, mount, "apps/b", password="v1")
    write(vault, mount, "apps/c", password="v1")  # unchanged throughout
    sync_provider(vault_provider.pk, actor="system")
    write(vault, mount, "apps/a", password="changed-outside")  # a new version nobody rotated
    vault.root.secrets.kv.v2.delete_metadata_and_all_versions("apps/b", mount_point=mount)
    result = sync_provider(vault_provider.pk, actor="worker")
    assert result.out_of_band == ["apps/a#password"] and result.missing == 1
    assert (result.updated, result.unchanged) == (1, 1)
    unchanged = Secret.objects.get(name="apps/c#password")
    assert unchanged.status == "active" and unchanged.seen_generation == 2
    changed = Secret.objects.get(name="apps/a#password")
    assert changed.changed_out_of_band_at is not None and changed.current_version == "2"
    assert Secret.objects.get(name="apps/b#password").status == "missing"  # kept, never deleted
    event = AuditEvent.objects.get(event_type="secret.changed_out_of_band")
    assert event.details == {"previous_version": "1", "current_version": "2"}
    assert event.secret_name == "apps/a#password" and event.actor_type == "worker"


def test_a_rotation_in_progress_is_not_drift(vault, mount, vault_provider):
    write(vault, mount, "apps/r", password="v1")
    sync_provider(vault_provider.pk, actor="system")
    Secret.objects.filter(name="apps/r#password").update(rotating=True)
    write(vault, mount, "apps/r", password="v2")
    assert sync_provider(vault_provider.pk, actor="system").out_of_band == []


def test_a_failed_sync_keeps_the_inventory_and_shows_the_error(vault, mount, vault_provider, monkeypatch):
    write(vault, mount, "apps/keep", password="v1")
    sync_provider(vault_provider.pk, actor="system")
    monkeypatch.setenv("SA_SYNC_TEST_TOKEN", "revoked-token")
    result = sync_provider(vault_provider.pk, actor="system")
    assert not result.ok and result.error.startswith("AuthenticationFailed")
    assert Secret.objects.get(name="apps/keep#password").status == "active"
    vault_provider.refresh_from_db()
    assert vault_provider.last_sync_ok is False and "AuthenticationFailed" in vault_provider.last_sync_error
    event = AuditEvent.objects.filter(event_type="inventory.synced").latest("sequence")
    assert event.outcome == "failure"


def test_two_syncs_of_one_provider_never_run_at_once(vault_provider):
    assert claim(vault_provider.pk) is not None
    assert sync_provider(vault_provider.pk, actor="system") is None  # the claim is held


def test_sync_now_button_is_audited_and_queues_a_job(client, role_users, vault_provider,
                                                     django_capture_on_commit_callbacks):
    queue = django_rq.get_queue("sync")
    queue.empty()
    client.force_login(role_users["erin"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("providers:provider_sync", args=[vault_provider.uuid]))
    assert response.status_code == 302
    assert [job.func_name for job in queue.jobs] == ["providers.jobs.sync_provider_job"]
    assert AuditEvent.objects.filter(event_type="inventory.sync_requested", actor_name="erin").count() == 1
    queue.empty()
    client.force_login(role_users["alice"])
    assert client.post(reverse("providers:provider_sync", args=[vault_provider.uuid])).status_code == 403


def test_sync_inventory_command(vault, mount, vault_provider):
    write(vault, mount, "svc/x", password="v1")
    out = io.StringIO()
    call_command("sync_inventory", "vault-sync", stdout=out)
    assert out.getvalue().strip() == "vault-sync: 1 new, 0 updated, 0 missing, 0 changed out of band"
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="no provider named nope"):
        call_command("sync_inventory", "nope")


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_sync_job(vault, mount, vault_provider, subprocess_env):
    write(vault, mount, "svc/worker", password="v1")
    from providers.jobs import sync_provider_job

    django_rq.get_queue("sync").enqueue(sync_provider_job, vault_provider.pk)
    subprocess_env["SA_SYNC_TEST_TOKEN"] = vault.root.token
    result = subprocess.run([PYTHON, MANAGE, "rqworker", "sync", "--burst"], env=subprocess_env, cwd=BASE_DIR,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert Secret.objects.filter(name="svc/worker#password").exists()
    assert AuditEvent.objects.get(event_type="inventory.synced").actor_type == "worker"


# -- untrusted metadata: capped, coerced to strings, and the sync goes on ---------------------------

def test_oversized_provider_tags_are_capped_and_the_sync_goes_on(vault, mount, vault_provider):
    write(vault, mount, "apps/tagged", password="v1")
    write(vault, mount, "apps/plain", password="v1")
    custom = {f"t{i:02}": "x" for i in range(60)}
    custom["t00"] = "<script>alert(1)</script>" + "y" * 480  # 505 characters; OpenBao allows 512
    vault.root.secrets.kv.v2.update_metadata("apps/tagged", custom_metadata=custom, mount_point=mount)
    result = sync_provider(vault_provider.pk, actor="system")
    assert (result.ok, result.created) == (True, 2)
    tags = Secret.objects.get(name="apps/tagged#password").tags
    assert len(tags) == 50 and len(tags["t00"]) == 256
    assert tags["t00"].startswith("<script>alert(1)</script>yyy")  # stored as text; templates escape it
    assert Secret.objects.get(name="apps/plain#password").status == "active"
    again = sync_provider(vault_provider.pk, actor="system")
    assert (again.ok, again.updated, again.unchanged) == (True, 0, 2)  # capped values compare equal on a resync


def test_a_hostile_listing_is_capped_coerced_and_stored_without_loss():
    provider = Provider.objects.create(kind="vault", name="vault-hostile", settings={"address": "http://v"})
    kept = Secret.objects.create(provider=provider, name="kept#k", owner="team-a", environment="prod",
                                 description="ours", tags={"keep": "me"})
    long_name = "n" * 600
    page = [
        SecretMetadata(name=long_name, description="d" * 10_000 + "\x00", external_id="e" * 2000,
                       current_version="v" * 300, tags={7: 3.5, "none": None, "list": [1, 2], "nul\x00": "a\x00b",
                                                        "k" * 200: "w" * 10_000, "": "empty key"}),
        SecretMetadata(name=long_name + "-same-first-512", description="second"),
        SecretMetadata(name="ok#k", tags="not-a-mapping"),
    ]
    assert claim(provider.pk) is not None
    provider.refresh_from_db()
    for _ in range(2):  # the second pass finds the capped rows again instead of colliding with them
        _apply_page(provider, page, result := SyncResult())
    assert (result.created, result.updated, result.unchanged) == (0, 0, 2)
    row = Secret.objects.get(provider=provider, name="n" * 512)
    assert row.description == "d" * 2000 and len(row.external_id) == 1024 and len(row.current_version) == 256
    assert row.tags == {"7": "3.5", "none": "", "list": "[1, 2]", "nul": "ab", "k" * 128: "w" * 256}
    assert Secret.objects.get(provider=provider, name="ok#k").tags == {}
    assert Secret.objects.filter(provider=provider).count() == 3
    kept.refresh_from_db()
    assert (kept.owner, kept.environment, kept.description, kept.tags) == ("team-a", "prod", "ours", {"keep": "me"})
