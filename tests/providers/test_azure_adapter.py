"""Azure Key Vault specifics beyond the shared contract: the challenge handshake, versions as stages, error mapping."""
import json
import subprocess
import sys
import uuid

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    DecodeError,
    HttpResponseError,
    IncompleteReadError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.keyvault.secrets._shared import http_challenge_cache

from providers.adapters.azure import AzureKeyVaultConfig, AzureKeyVaultSecretManager
from providers.adapters.base import (
    AuthenticationFailed,
    InvalidFormat,
    NetworkError,
    NotFound,
    Other,
    PermissionDenied,
    Throttled,
)
from tests.conftest import BASE_DIR
from tests.providers.conftest import FAST_POLICY
from tests.servers.azure_keyvault import start_azure_keyvault_server

SECRET = "s3cr3t-never-in-a-message"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    started = start_azure_keyvault_server(tmp_path_factory.mktemp("azure-adapter"))
    yield started
    started.stop()


@pytest.fixture
def adapter(server):
    server.faults.clear()
    server.max_page_size = 25
    config = AzureKeyVaultConfig(vault_url=server.url, credential="static_token", token="test-token",
                                 ca_cert=server.ca_pem_path)
    return AzureKeyVaultSecretManager(config, FAST_POLICY)


def unique(base):
    return f"{base}-{uuid.uuid4().hex[:8]}"


def test_the_bearer_challenge_comes_before_the_first_authenticated_request(server, adapter):
    # The SDK caches challenges per host for the whole process: forget this server's so the handshake must happen.
    http_challenge_cache.remove_challenge_for_url(server.url)
    challenges, seen = len(server.challenges), server.faults.requests_seen
    name = unique("handshake")
    adapter.create_secret(name, "v1")
    assert server.challenges[challenges:] == [("GET", f"/secrets/{name}/")]
    assert server.faults.requests_seen - seen == 2, "the repeated GET and the PUT, each with the token"
    assert adapter.get_secret(name) == "v1"
    assert len(server.challenges) == challenges + 1, "the challenge is answered once, then cached"


def test_a_disabled_version_reads_as_not_found(adapter):
    name = unique("disabled")
    adapter.create_secret(name, "old")
    old = adapter.describe_secret(name).current_version
    adapter.stage_version(name, "new", str(uuid.uuid4()))
    adapter.revoke_version(name, old)
    with pytest.raises(NotFound, match="disabled"):
        adapter.get_secret_version(name, old)
    # Disabling the newest version (outside the adapter, which refuses) leaves nothing to read.
    adapter.client.update_secret_properties(name, adapter.describe_secret(name).current_version, enabled=False)
    with pytest.raises(NotFound):
        adapter.get_secret(name)


def test_promoting_an_older_version_reissues_its_value(adapter):
    name, token = unique("rollback"), str(uuid.uuid4())
    adapter.create_secret(name, "v1")
    first = adapter.describe_secret(name).current_version
    staged = adapter.stage_version(name, "v2", token)
    assert adapter.get_secret(name) == "v2", "on Key Vault the newest version is current as soon as it is staged"
    adapter.promote_version(name, first)
    assert adapter.get_secret(name) == "v1"
    described = adapter.describe_secret(name)
    assert len(described.versions) == 3 and described.current_version not in (first, staged.version_id)
    adapter.promote_version(name, first)
    assert len(adapter.describe_secret(name).versions) == 3, "promoting the same version again writes nothing"


def test_staging_again_after_a_promotion_returns_the_original_version(adapter):
    name, token = unique("restage"), str(uuid.uuid4())
    adapter.create_secret(name, "v1")
    staged = adapter.stage_version(name, "v2", token)
    adapter.stage_version(name, "v3", str(uuid.uuid4()))
    adapter.promote_version(name, staged.version_id)  # re-issued as a new version carrying the same token
    again = adapter.stage_version(name, "v2", token)
    assert again == type(again)(version_id=staged.version_id, created=False)
    adapter.promote_version(name, again.version_id)
    assert adapter.get_secret(name) == "v2" and len(adapter.describe_secret(name).versions) == 4


def test_the_current_version_cannot_be_revoked(adapter):
    name = unique("keep-current")
    adapter.create_secret(name, "v1")
    with pytest.raises(Other):
        adapter.revoke_version(name, adapter.describe_secret(name).current_version)
    assert adapter.get_secret(name) == "v1"


def test_throttling_with_retry_after_is_retried_by_the_adapter_not_the_sdk(server, adapter):
    name = unique("throttled")
    adapter.create_secret(name, "v1")
    server.faults.fail_next(429, count=2)
    seen = server.faults.requests_seen
    assert adapter.get_secret(name) == "v1"
    assert server.faults.requests_seen - seen == 3
    server.faults.fail_next(429, count=5)
    seen = server.faults.requests_seen
    with pytest.raises(Throttled):
        adapter.get_secret(name)
    assert server.faults.requests_seen - seen == FAST_POLICY.attempts, "the SDK's own retries are off"


def test_a_read_timeout_is_retried(server, adapter):
    name = unique("slow")
    adapter.create_secret(name, "v1")
    server.faults.delay_next(FAST_POLICY.read_timeout + 1)
    assert adapter.get_secret(name) == "v1"


def test_revoked_secrets_are_soft_deleted(server, adapter):
    name = unique("soft-deleted")
    adapter.create_secret(name, "v1")
    adapter.revoke_secret(name)
    with pytest.raises(NotFound):
        adapter.describe_secret(name)
    assert name not in {m.name for page in adapter.list_secrets() for m in page}
    with pytest.raises(Other):  # the name is held until the deleted secret is purged
        adapter.create_secret(name, "v2")
    assert adapter.client.get_deleted_secret(name).name == name


def test_pages_follow_the_vaults_page_size(server, adapter):
    server.max_page_size = 3
    prefix = unique("paged")
    for i in range(7):
        adapter.create_secret(f"{prefix}-{i}", "v")
    pages = list(adapter.list_secrets(page_size=100))
    assert max(len(page) for page in pages) <= 3
    mine = [m for page in pages for m in page if m.name.startswith(prefix)]
    assert len(mine) == 7
    assert all(m.external_id == f"{server.url}/secrets/{m.name}" and m.enabled for m in mine)


def test_names_and_versions_are_checked_before_any_request(server, adapter):
    seen = server.faults.requests_seen
    for call in (lambda: adapter.get_secret("x" * 128), lambda: adapter.get_secret_version("ok", ""),
                 lambda: adapter.get_secret_version("ok", "../other")):
        with pytest.raises(InvalidFormat):
            call()
    assert server.faults.requests_seen == seen


def test_settings_build_the_config_and_hide_credentials(server):
    adapter = AzureKeyVaultSecretManager.from_settings(
        {"vault_url": server.url, "credential": "static_token", "ca_cert": server.ca_pem_path},
        {"token": "test-token"}, FAST_POLICY)
    assert adapter.test_connection().ok
    assert "test-token" not in repr(adapter.config)
    with pytest.raises(AuthenticationFailed):
        AzureKeyVaultSecretManager.from_settings({"vault_url": server.url, "credential": "client_secret"}, {})
    with pytest.raises(Other):
        AzureKeyVaultSecretManager.from_settings({"vault_url": server.url, "credential": "certificate"}, {})


class FakeResponse:
    """Just enough of an azure-core response for HttpResponseError to parse Key Vault's error body."""

    def __init__(self, status, code="Error", message=f"value was {SECRET}", inner=None):
        self.status_code, self.reason = status, "reason"
        error = {"code": code, "message": message, **({"innererror": {"code": inner}} if inner else {})}
        self._body = json.dumps({"error": error})

    def text(self):
        return self._body


def http_error(status, cls=HttpResponseError, **kwargs):
    return cls(response=FakeResponse(status, **kwargs))


@pytest.mark.parametrize(("exc", "expected"), [
    (ResourceNotFoundError(SECRET), NotFound),
    (ClientAuthenticationError(SECRET), AuthenticationFailed),
    (http_error(401), AuthenticationFailed),
    (http_error(403, code="Forbidden"), PermissionDenied),
    (http_error(403, code="Forbidden", message="Operation get is not allowed on a disabled secret."), NotFound),
    (http_error(403, code="Forbidden", inner="SecretDisabled"), NotFound),
    (http_error(404, code="SecretNotFound"), NotFound),
    (http_error(409, ResourceExistsError, code="Conflict"), Other),
    (http_error(429, code="Throttled"), Throttled),
    (http_error(500), NetworkError),
    (http_error(503), NetworkError),
    (http_error(400, code="BadParameter"), InvalidFormat),
    (http_error(418), Other),
    (IncompleteReadError(SECRET), NetworkError),
    (DecodeError(SECRET), Other),
    (ServiceRequestError(SECRET), NetworkError),
    (ServiceResponseError(SECRET), NetworkError),
    (ServiceResponseTimeoutError(SECRET), NetworkError),
    (ValueError(SECRET), Other),
])
def test_translate_maps_each_sdk_error_without_its_message(exc, expected):
    adapter = AzureKeyVaultSecretManager(AzureKeyVaultConfig(vault_url="https://vault.example.invalid",
                                                             credential="static_token", token="t"))
    translated = adapter.translate(exc, "get_secret")
    assert type(translated) is expected
    assert "get_secret" in str(translated) and type(exc).__name__ in str(translated)
    assert SECRET not in str(translated) and translated.provider == "azure"


def test_the_sdk_is_imported_only_by_the_adapter_module():
    imports = [str(path.relative_to(BASE_DIR)) for path in BASE_DIR.glob("[!.]*/**/*.py")
               if path.parts[len(BASE_DIR.parts)] not in ("tests", "var", "staticfiles")
               and any(line.startswith(("import azure", "from azure")) for line in path.read_text().splitlines())]
    assert imports == ["providers/adapters/azure.py"]
    probe = "import sys, providers.adapters; print(any(m.startswith('azure') for m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=BASE_DIR, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "False", "the registry must load the Azure SDK only when an azure adapter is used"
