"""Fixtures of the security batteries: one KV v2 mount on the session's OpenBao, and the world each test acts on."""
import uuid

import pytest

from tests.security.world import TOKEN_VARIABLE, World
from tests.servers.openbao import enable_kv2


@pytest.fixture(scope="session")
def battery_vault(provider_servers):
    vault = provider_servers("vault")
    mount = f"battery-{uuid.uuid4().hex[:8]}"
    enable_kv2(vault.root, mount)
    return {"url": vault.root.url, "mount": mount, "token": vault.root.token}


@pytest.fixture
def world(db, battery_vault, monkeypatch):
    monkeypatch.setenv(TOKEN_VARIABLE, battery_vault["token"])
    world = World(battery_vault)
    yield world
    world.clean_up()
