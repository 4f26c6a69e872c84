"""One contract, four providers: every adapter over its real wire protocol against a real local server."""
import time
import uuid

import pytest

from providers.adapters.base import (
    AuthenticationFailed,
    InvalidFormat,
    NetworkError,
    NotFound,
    Other,
    PermissionDenied,
    SecretError,
    SecretMetadata,
)


def unique(provider, base):
    return provider.name(f"{base}-{uuid.uuid4().hex[:8]}")


def secret_value():
    return f"s3cr3t-{uuid.uuid4().hex}"  # recognisable, so tests can prove it never leaks


@pytest.fixture
def adapter(provider):
    provider.faults.clear()
    return provider.make_adapter()


def test_create_get_and_revoke(provider, adapter):
    name, value = unique(provider, "db-password"), secret_value()
    adapter.create_secret(name, value)
    assert adapter.get_secret(name) == value
    with pytest.raises(Other) as duplicate:
        adapter.create_secret(name, "another")
    assert value not in str(duplicate.value)
    adapter.revoke_secret(name)
    with pytest.raises(NotFound):
        adapter.get_secret(name)


def test_list_pages_metadata_only(provider, adapter):
    prefix = f"list-{uuid.uuid4().hex[:6]}"
    values = {}
    for i in range(12):
        name = provider.name(f"{prefix}-{i:02d}")
        values[name] = secret_value()
        adapter.create_secret(name, values[name])
    pages = list(adapter.list_secrets(page_size=5))
    assert len(pages) >= 3, "12 secrets in pages of 5 must take several pages"
    listed = [entry for page in pages for entry in page]
    assert all(isinstance(entry, SecretMetadata) for entry in listed)
    assert set(values) <= {entry.name for entry in listed}
    dumped = repr(listed)
    assert not any(value in dumped for value in values.values()), "list_secrets returned a value"


def test_describe(provider, adapter):
    name = unique(provider, "api-key")
    adapter.create_secret(name, secret_value())
    described = adapter.describe_secret(name)
    assert described.name == name and described.external_id
    assert described.created_at is not None and described.current_version
    current = [v for v in described.versions if v.version_id == described.current_version]
    assert current and current[0].enabled


def test_staging_is_idempotent_under_one_token(provider, adapter):
    name, token, new_value = unique(provider, "rotating"), str(uuid.uuid4()), secret_value()
    adapter.create_secret(name, secret_value())
    before = len(adapter.describe_secret(name).versions)
    first = adapter.stage_version(name, new_value, token)
    again = adapter.stage_version(name, new_value, token)
    assert first.created is True and again.created is False
    assert again.version_id == first.version_id
    described = adapter.describe_secret(name)
    assert len(described.versions) == before + 1
    staged = next(v for v in described.versions if v.version_id == first.version_id)
    assert staged.rotation_token == token


def test_promote_then_revoke_the_old_version(provider, adapter):
    name, old_value, new_value = unique(provider, "promote"), secret_value(), secret_value()
    adapter.create_secret(name, old_value)
    old = adapter.describe_secret(name).current_version
    staged = adapter.stage_version(name, new_value, str(uuid.uuid4()))
    adapter.promote_version(name, staged.version_id)
    assert adapter.get_secret(name) == new_value
    current = adapter.describe_secret(name).current_version
    assert current == staged.version_id or adapter.get_secret_version(name, current) == new_value
    adapter.revoke_version(name, old)
    described = adapter.describe_secret(name)
    assert not next(v for v in described.versions if v.version_id == old).enabled
    with pytest.raises(NotFound):
        adapter.get_secret_version(name, old)
    assert adapter.get_secret(name) == new_value
    with pytest.raises(Other):
        adapter.revoke_version(name, described.current_version)
    assert adapter.get_secret(name) == new_value


def test_missing_secret_and_invalid_names(provider, adapter):
    with pytest.raises(NotFound):
        adapter.get_secret(provider.name(f"missing-{uuid.uuid4().hex[:8]}"))
    seen = provider.faults.requests_seen
    with pytest.raises(InvalidFormat):
        adapter.get_secret(provider.invalid_name)
    assert provider.faults.requests_seen == seen, "an invalid name must be refused before any request"


def test_bad_credentials_are_authentication_failures(provider):
    with pytest.raises(AuthenticationFailed):
        provider.make_adapter(bad_credentials=True).get_secret(provider.name("anything"))


@pytest.mark.parametrize(("status", "error"), [(401, AuthenticationFailed), (403, PermissionDenied),
                                               (404, NotFound)])
def test_client_errors_map_onto_the_taxonomy_without_retries(provider, adapter, status, error):
    name = unique(provider, "faulted")
    adapter.create_secret(name, secret_value())
    provider.faults.fail_next(status)
    seen = provider.faults.requests_seen
    with pytest.raises(error):
        adapter.get_secret(name)
    # One request for the failure (Vault asks once more who the token belongs to on a 403).
    assert provider.faults.requests_seen - seen <= (2 if status == 403 else 1)


def test_throttling_is_retried_until_it_passes(provider, adapter):
    name, value = unique(provider, "throttled"), secret_value()
    adapter.create_secret(name, value)
    provider.faults.fail_next(429, count=2)
    assert adapter.get_secret(name) == value


def test_server_errors_are_retried_then_raised_as_network_errors(provider, adapter):
    name = unique(provider, "flaky")
    adapter.create_secret(name, secret_value())
    provider.faults.fail_next(503, count=10)
    seen = provider.faults.requests_seen
    with pytest.raises(NetworkError):
        adapter.get_secret(name)
    assert provider.faults.requests_seen - seen == 3, "exactly the policy's three attempts"
    provider.faults.clear()


def test_stopped_server_gives_network_error_after_bounded_retries(provider):
    started = time.monotonic()
    with pytest.raises(NetworkError):
        provider.unreachable_adapter().get_secret(provider.name("anything"))
    assert time.monotonic() - started < 10


def test_errors_never_carry_the_value(provider, adapter):
    name, value = unique(provider, "leak-check"), secret_value()
    adapter.create_secret(name, value)
    for status in (401, 403, 500):
        provider.faults.fail_next(status, count=3)
        with pytest.raises(SecretError) as raised:
            adapter.stage_version(name, value, str(uuid.uuid4()))
        assert value not in str(raised.value) and value not in repr(raised.value.args)
        provider.faults.clear()


def test_listing_survives_a_transient_fault_between_pages(provider, adapter):
    prefix = f"resume-{uuid.uuid4().hex[:6]}"
    names = {provider.name(f"{prefix}-{i:02d}") for i in range(8)}
    for name in names:
        adapter.create_secret(name, secret_value())
    pages = adapter.list_secrets(page_size=3)
    listed = {entry.name for entry in next(pages)}
    provider.faults.fail_next(503)
    listed |= {entry.name for page in pages for entry in page}
    assert names <= listed
