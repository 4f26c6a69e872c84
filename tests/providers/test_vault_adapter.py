"""Vault (OpenBao) specifics beyond the shared contract: `path#key` names, real policies, check-and-set, crash-safe
staging markers, nested listing."""
import uuid

import hvac.exceptions
import pytest

from providers.adapters.base import AuthenticationFailed, InvalidFormat, NotFound, Other, PermissionDenied
from providers.adapters.vault import KEEP_TOKENS, MARKER_PREFIX, VaultConfig, VaultSecretManager
from tests.providers.conftest import FAST_POLICY
from tests.servers.openbao import enable_kv2

# The policy's wording, spelled out rather than imported, so that a changed constant fails here.
NAME_ERROR = "Invalid secret name format for Vault. Expected 'path/to/secret#key'"


@pytest.fixture
def vault(provider_servers):
    under_test = provider_servers("vault")
    under_test.faults.clear()
    return under_test


@pytest.fixture
def adapter(vault):
    return vault.make_adapter()


def unique_path(base):
    return f"vault-adapter/{base}-{uuid.uuid4().hex[:8]}"


def root_kv(vault):
    return vault.root.secrets.kv.v2


def markers(vault, path):
    custom = root_kv(vault).read_secret_metadata(path)["data"].get("custom_metadata") or {}
    return {k.removeprefix(MARKER_PREFIX): v for k, v in custom.items() if k.startswith(MARKER_PREFIX)}


def current_version(vault, path):
    return root_kv(vault).read_secret_metadata(path)["data"]["current_version"]


def value_at(vault, path, version=None):
    return root_kv(vault).read_secret_version(path, version=version, raise_on_deleted_version=True)["data"]["data"]


class Crash(Exception):
    """Stands in for the process dying: not a SecretError, so nothing retries it."""


# -- names ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [
    "no-key-separator", "app/db/password", "app/../db#password", "../db#password", "app/./db#password",
    "app/db#", "#password", "app//db#password", "/app/db#password", "app/db/#password", "app/db#pass#word", "",
])
def test_malformed_names_get_the_policys_message_before_any_request(vault, adapter, name):
    seen = vault.faults.requests_seen
    for call in (adapter.get_secret, lambda n: adapter.create_secret(n, "v"), adapter.describe_secret):
        with pytest.raises(InvalidFormat) as raised:
            call(name)
        assert str(raised.value) == NAME_ERROR
    assert vault.faults.requests_seen == seen


# -- tokens and policies ---------------------------------------------------------------------------------------
def test_a_limited_token_reads_inside_its_path(vault):
    path = f"readonly/{uuid.uuid4().hex[:8]}"
    root_kv(vault).create_or_update_secret(path, secret={"password": "inside"})
    assert vault.readonly_adapter().get_secret(f"{path}#password") == "inside"


def test_a_limited_token_writing_outside_its_path_is_denied_not_unauthenticated(vault):
    path = unique_path("outside")
    with pytest.raises(PermissionDenied):
        vault.readonly_adapter().create_secret(f"{path}#password", "v")
    with pytest.raises(hvac.exceptions.InvalidPath):
        root_kv(vault).read_secret_metadata(path)  # nothing was written


def test_a_limited_token_cannot_write_even_inside_its_read_path(vault):
    path = f"readonly/{uuid.uuid4().hex[:8]}"
    root_kv(vault).create_or_update_secret(path, secret={"password": "inside"})
    with pytest.raises(PermissionDenied):
        vault.readonly_adapter().stage_version(f"{path}#password", "changed", str(uuid.uuid4()))
    assert value_at(vault, path) == {"password": "inside"}


def test_a_refused_data_write_is_permission_denied_and_writes_nothing(vault):
    # May read everything and update metadata, but not write data: the refused request is the write itself.
    policy = f"no-data-writes-{uuid.uuid4().hex[:8]}"
    vault.root.sys.create_or_update_policy(policy, 'path "secret/metadata/*" { capabilities = ["read", "update"] }\n'
                                                   'path "secret/data/*" { capabilities = ["read"] }')
    token = vault.root.auth.token.create(policies=[policy], ttl="1h")["auth"]["client_token"]
    path = unique_path("no-write")
    root_kv(vault).create_or_update_secret(path, secret={"password": "original"})
    with pytest.raises(PermissionDenied):
        vault.make_adapter(token=token).stage_version(f"{path}#password", "changed", str(uuid.uuid4()))
    assert [m.partition(":")[0] for m in markers(vault, path).values()] == ["pending@2"], "got as far as the marker"
    assert current_version(vault, path) == 1
    assert value_at(vault, path) == {"password": "original"}


def test_an_invalid_token_is_an_authentication_failure_for_reads_and_writes(vault):
    adapter = vault.make_adapter(bad_credentials=True)
    with pytest.raises(AuthenticationFailed):
        adapter.create_secret(f"{unique_path('bad-token')}#k", "v")
    with pytest.raises(AuthenticationFailed):
        list(adapter.list_secrets())


def test_a_revoked_token_is_an_authentication_failure(vault):
    token = vault.root.auth.token.create(policies=["readonly"], ttl="1h")["auth"]["client_token"]
    path = f"readonly/{uuid.uuid4().hex[:8]}"
    root_kv(vault).create_or_update_secret(path, secret={"password": "inside"})
    adapter = vault.make_adapter(token=token)
    assert adapter.get_secret(f"{path}#password") == "inside"
    vault.root.auth.token.revoke(token)
    with pytest.raises(AuthenticationFailed):
        adapter.get_secret(f"{path}#password")


# -- several keys in one path ----------------------------------------------------------------------------------
def test_two_keys_in_one_path_are_two_secrets(vault, adapter):
    path = unique_path("pair")
    adapter.create_secret(f"{path}#a", "value-a")
    adapter.create_secret(f"{path}#b", "value-b")
    assert (adapter.get_secret(f"{path}#a"), adapter.get_secret(f"{path}#b")) == ("value-a", "value-b")
    listed = {m.name for page in adapter.list_secrets() for m in page}
    assert {f"{path}#a", f"{path}#b"} <= listed
    adapter.revoke_secret(f"{path}#a")
    with pytest.raises(NotFound):
        adapter.get_secret(f"{path}#a")
    assert adapter.get_secret(f"{path}#b") == "value-b"
    assert value_at(vault, path) == {"b": "value-b"}
    # The revoked value is gone from the history too, not just from the latest version.
    for version in ("1", "2"):
        with pytest.raises(NotFound):
            adapter.get_secret_version(f"{path}#a", version)


def test_creating_a_second_key_keeps_the_first(adapter):
    path = unique_path("keep")
    adapter.create_secret(f"{path}#a", "value-a")
    adapter.create_secret(f"{path}#b", "value-b")
    with pytest.raises(Other):
        adapter.create_secret(f"{path}#a", "replaced")
    assert adapter.get_secret(f"{path}#a") == "value-a"


# -- check-and-set ---------------------------------------------------------------------------------------------
def test_a_concurrent_write_makes_staging_fail_without_overwriting(vault, adapter, monkeypatch):
    path = unique_path("cas")
    name = f"{path}#password"
    adapter.create_secret(name, "original")
    read = adapter._read_optional

    def read_after_someone_else_wrote(*args, **kwargs):
        # Between our metadata read (version 1) and our write: another writer makes version 2.
        monkeypatch.setattr(adapter, "_read_optional", read)
        root_kv(vault).create_or_update_secret(path, secret={"password": "theirs"})
        return read(*args, **kwargs)

    monkeypatch.setattr(adapter, "_read_optional", read_after_someone_else_wrote)
    with pytest.raises(Other) as raised:
        adapter.stage_version(name, "ours", "token-cas")
    assert "check-and-set" in str(raised.value) and "ours" not in str(raised.value)
    assert current_version(vault, path) == 2
    assert value_at(vault, path) == {"password": "theirs"}
    assert value_at(vault, path, 1) == {"password": "original"}


def test_staging_again_after_a_conflict_writes_on_top_of_the_other_writer(vault, adapter, monkeypatch):
    path = unique_path("cas-retry")
    name = f"{path}#password"
    adapter.create_secret(name, "original")
    read = adapter._read_optional

    def read_after_someone_else_wrote(*args, **kwargs):
        monkeypatch.setattr(adapter, "_read_optional", read)
        root_kv(vault).create_or_update_secret(path, secret={"password": "theirs"})
        return read(*args, **kwargs)

    monkeypatch.setattr(adapter, "_read_optional", read_after_someone_else_wrote)
    with pytest.raises(Other):
        adapter.stage_version(name, "ours", "token-retry")
    # The pending marker points at version 2, which holds their value, not ours: it must not be taken for ours.
    staged = adapter.stage_version(name, "ours", "token-retry")
    assert (staged.version_id, staged.created) == ("3", True)
    assert value_at(vault, path, 2) == {"password": "theirs"}
    assert markers(vault, path)["token-retry"] == "3"


# -- crash-safe staging ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("retry_value", ["rotated", "generated-again"], ids=["same-value", "new-value"])
def test_staging_is_idempotent_after_a_crash_between_the_write_and_the_final_marker(retry_value, vault, adapter,
                                                                                   monkeypatch):
    # The rotation engine generates a value per attempt (it keeps none), so its retry brings another value: that one
    # must find the version written for its token too, not write a second (found by tests/scale: a worker SIGKILLed
    # while staging).
    path = unique_path("crash-after-write")
    name = f"{path}#password"
    adapter.create_secret(name, "original")
    remember = adapter._remember_token
    written = "rotated"

    def die_before_the_final_marker(path_, custom, token, value):
        if not value.startswith("pending@"):
            raise Crash
        return remember(path_, custom, token, value)

    monkeypatch.setattr(adapter, "_remember_token", die_before_the_final_marker)
    with pytest.raises(Crash):
        adapter.stage_version(name, written, "token-crash")
    monkeypatch.undo()
    assert markers(vault, path)["token-crash"].startswith("pending@2:")
    assert written not in markers(vault, path)["token-crash"], "the marker never holds the value"
    assert current_version(vault, path) == 2

    again = adapter.stage_version(name, retry_value, "token-crash")
    assert (again.version_id, again.created) == ("2", False)
    assert current_version(vault, path) == 2, "no second version for the same token"
    assert value_at(vault, path) == {"password": written}
    assert markers(vault, path) == {"token-crash": "2"}
    assert adapter.describe_secret(name).versions[-1].rotation_token == "token-crash"


def test_a_crash_before_the_write_stages_on_the_next_attempt(vault, adapter, monkeypatch):
    path = unique_path("crash-before-write")
    name = f"{path}#password"
    adapter.create_secret(name, "original")

    remember = adapter._remember_token

    def die_after_the_pending_marker(path_, custom, token, value):
        remember(path_, custom, token, value)
        raise Crash

    monkeypatch.setattr(adapter, "_remember_token", die_after_the_pending_marker)
    with pytest.raises(Crash):
        adapter.stage_version(name, "rotated", "token-early")
    monkeypatch.undo()
    assert markers(vault, path)["token-early"].startswith("pending@2:")
    assert current_version(vault, path) == 1

    staged = adapter.stage_version(name, "rotated", "token-early")
    assert (staged.version_id, staged.created) == ("2", True)
    assert value_at(vault, path) == {"password": "rotated"}


def test_rotation_markers_are_capped_and_never_shown_as_tags(vault, adapter):
    path = unique_path("capped")
    name = f"{path}#password"
    adapter.create_secret(name, "v0")
    tokens = [str(uuid.uuid4()) for _ in range(12)]
    for i, token in enumerate(tokens, start=1):
        adapter.stage_version(name, f"v{i}", token)
    kept = markers(vault, path)
    assert len(kept) == KEEP_TOKENS  # 12 stagings, the newest 10 markers kept
    assert kept[tokens[-1]] == "13"
    assert not any(key.startswith(MARKER_PREFIX) for key in adapter.describe_secret(name).tags)


def test_the_newest_rotation_markers_are_the_ones_kept(vault, adapter):
    path = unique_path("newest")
    name = f"{path}#password"
    adapter.create_secret(name, "v0")
    tokens = [f"rotation-{99 - i}" for i in range(12)]  # each newer token sorts before the older ones
    for i, token in enumerate(tokens, start=1):
        adapter.stage_version(name, f"v{i}", token)
    assert set(markers(vault, path)) == set(tokens[-KEEP_TOKENS:])


# -- listing ---------------------------------------------------------------------------------------------------
def test_listing_walks_nested_folders(vault, adapter):
    base = unique_path("tree")
    names = [f"{base}/top#k", f"{base}/a/b/c/deep#k", f"{base}/a/b/c/deep#other", f"{base}/a/side#k",
             f"{base}/a#k"]  # "a" is both a secret and a folder
    for name in names:
        adapter.create_secret(name, "v")
    listed = [m for page in adapter.list_secrets(page_size=2) for m in page]
    ours = sorted(m.name for m in listed if m.name.startswith(base + "/"))
    assert ours == sorted(names)
    assert all(len(page) <= 2 for page in adapter.list_secrets(page_size=2))
    deep = next(m for m in listed if m.name == f"{base}/a/b/c/deep#k")
    # Two keys, created one after the other: the path's second version is current for both.
    assert deep.current_version == "2" and deep.external_id.endswith(f"/v1/secret/data/{base}/a/b/c/deep#k")


def test_listing_an_empty_mount_yields_nothing(vault):
    mount = f"empty-{uuid.uuid4().hex[:8]}"
    enable_kv2(vault.root, mount)
    try:
        config = VaultConfig(address=vault.make_adapter().config.address, token=vault.root.token, mount=mount)
        assert list(VaultSecretManager(config, FAST_POLICY).list_secrets()) == []
    finally:
        vault.root.sys.disable_secrets_engine(mount)
