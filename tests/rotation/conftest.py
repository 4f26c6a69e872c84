"""Rotation fixtures: a Vault (OpenBao) provider of the test's own, a policy governing it, and a synced secret."""
import os
import secrets
import uuid

import psycopg
import pytest
from psycopg import sql

from providers.models import Provider, Secret
from providers.sync import sync_provider
from rotation.models import PolicyAssignment, RotationPolicy
from tests.servers.openbao import enable_kv2

ADMIN_URL = os.environ.get("TARGET_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def vault(provider_servers):
    return provider_servers("vault")


@pytest.fixture
def kv_mount(vault):
    """A KV v2 mount of this test's own."""
    name = f"rot-{uuid.uuid4().hex[:8]}"
    enable_kv2(vault.root, name)
    yield name
    vault.root.sys.disable_secrets_engine(name)


@pytest.fixture
def vault_provider(vault, kv_mount, monkeypatch):
    # Through the fault proxy, so tests can make the provider fail; the token comes from the environment.
    monkeypatch.setenv("SA_ROTATION_TEST_TOKEN", vault.root.token)
    return Provider.objects.create(
        kind="vault", name=f"vault-{kv_mount}", settings={"address": vault.proxy_url, "mount": kv_mount},
        auth_reference={"method": "env", "variables": {"token": "SA_ROTATION_TEST_TOKEN"}},
    )


@pytest.fixture
def policy(db, vault_provider):
    policy = RotationPolicy.objects.create(name="test-policy", interval_days=30, length=24, required_approvals=1,
                                           grace_period_hours=0)
    PolicyAssignment.objects.create(policy=policy, provider=vault_provider)
    return policy


def write(vault, mount, path, **data):
    vault.root.secrets.kv.v2.create_or_update_secret(path, secret=data, mount_point=mount)


def read(vault, mount, path, version=None):
    return vault.root.secrets.kv.v2.read_secret_version(path, version=version, mount_point=mount,
                                                        raise_on_deleted_version=False)["data"]


@pytest.fixture
def secret(vault, kv_mount, vault_provider, policy):
    """app/db#password in the provider (initial value generated now) and in the inventory."""
    write(vault, kv_mount, "app/db", password=f"initial-{uuid.uuid4().hex}", user="app")
    assert sync_provider(vault_provider.pk, actor="system").ok
    return Secret.objects.select_related("provider").get(provider=vault_provider, name="app/db#password")


@pytest.fixture
def pg_role():
    """A throwaway login role whose password the rotation changes; its first password generated now."""
    name, password = f"sa_fault_{secrets.token_hex(4)}", secrets.token_urlsafe(18)
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))
    yield name, password
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture
def worker_env(subprocess_env, vault):
    return {**subprocess_env, "SA_ROTATION_TEST_TOKEN": vault.root.token}


@pytest.fixture
def target_secret(vault, kv_mount, vault_provider, pg_role):
    from providers.models import Secret
    from providers.sync import sync_provider

    role, password = pg_role
    config = {"kind": "postgresql", "host": "127.0.0.1", "port": 5432, "dbname": "postgres", "role": role,
              "admin_user": "postgres"}
    policy = RotationPolicy.objects.create(name="pg-role", length=32, grace_period_hours=0, target=config)
    PolicyAssignment.objects.create(policy=policy, provider=vault_provider)
    write(vault, kv_mount, "db/app", password=password)
    assert sync_provider(vault_provider.pk, actor="system").ok
    return Secret.objects.select_related("provider").get(provider=vault_provider, name="db/app#password"), config
