"""What the shared contract doesn't cover for Google Secret Manager: versioned names, crash-safe staging, enum states,
error translation, and the test server's wire details."""
import uuid

import google.api_core.exceptions as google_errors
import google.auth.exceptions
import pytest
import requests

from providers.adapters.base import (
    AuthenticationFailed,
    InvalidFormat,
    NetworkError,
    NotFound,
    Other,
    PermissionDenied,
    Throttled,
)
from providers.adapters.calls import CallPolicy
from providers.adapters.gcp import (
    PENDING_PREFIX,
    ROTATION_PREFIX,
    GcpSecretManager,
    GcpSecretManagerConfig,
    crc32c,
)
from tests.providers.conftest import FAST_POLICY
from tests.servers.gcp_secretmanager import start_gcp_server

TOKEN = "unit-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = start_gcp_server(tmp_path_factory.mktemp("gcp"), max_page_size=3, require_token=True,
                              accepted_tokens={TOKEN})
    yield server
    server.stop()


@pytest.fixture
def adapter(server):
    server.faults.clear()
    # A project per test keeps listings and version numbers independent of the other tests.
    config = GcpSecretManagerConfig(project_id=f"p-{uuid.uuid4().hex[:8]}", api_endpoint=server.url,
                                    access_token=TOKEN)
    return GcpSecretManager(config, FAST_POLICY)


def versions_of(adapter, name):
    return {v.version_id: v for v in adapter.describe_secret(name).versions}


def annotations_of(adapter, name):
    return dict(adapter.client.get_secret(name=adapter._path(name)).annotations)


class Crash(Exception):
    """Stands in for the process dying: not a SecretError, so nothing retries it."""


# -- names ---------------------------------------------------------------------------------------------------
def test_a_versioned_name_reads_that_version(adapter):
    adapter.create_secret("db", "one")
    adapter.stage_version("db", "two", "t-2")
    assert adapter.get_secret("db") == "two"
    assert adapter.get_secret("db/1") == "one"
    assert adapter.get_secret("db/2") == "two"
    with pytest.raises(NotFound):
        adapter.get_secret("db/9")


@pytest.mark.parametrize("name", ["db/latest", "db/0", "db/1/2", "a b", "", "x" * 256, "db/"])
def test_malformed_names_are_refused_before_any_request(adapter, server, name):
    seen = server.faults.requests_seen
    with pytest.raises(InvalidFormat):
        adapter.get_secret(name)
    assert server.faults.requests_seen == seen


def test_a_version_is_refused_where_a_whole_secret_is_meant(adapter, server):
    seen = server.faults.requests_seen
    for call in (lambda: adapter.create_secret("db/1", "v"), lambda: adapter.revoke_secret("db/1"),
                 lambda: adapter.describe_secret("db/1"), lambda: adapter.get_secret_version("db", "latest")):
        with pytest.raises(InvalidFormat):
            call()
    assert server.faults.requests_seen == seen


# -- states --------------------------------------------------------------------------------------------------
def test_enum_states_map_onto_enabled_and_current(adapter):
    adapter.create_secret("states", "v1")
    for number in (2, 3, 4):
        adapter.stage_version("states", f"v{number}", f"token-{number}")
    adapter.client.disable_secret_version(name=adapter._path("states", 2))
    adapter.client.destroy_secret_version(name=adapter._path("states", 3))
    adapter.client.disable_secret_version(name=adapter._path("states", 4))  # the newest is no longer current
    described = adapter.describe_secret("states")
    assert {v.version_id: v.enabled for v in described.versions} == {"1": True, "2": False, "3": False, "4": False}
    assert described.current_version == "1" and described.enabled
    assert versions_of(adapter, "states")["1"].stages == ("current",)
    assert adapter.get_secret("states") == "v1", "'latest' is disabled, so the newest enabled version is read"
    with pytest.raises(NotFound):
        adapter.get_secret_version("states", "3")  # destroyed: FAILED_PRECONDITION on the wire


def test_the_server_encodes_states_as_integers_only_when_asked(adapter, server):
    adapter.create_secret("wire", "v")
    url, headers = f"{server.url}/v1/{adapter._path('wire', 1)}", {"Authorization": f"Bearer {TOKEN}"}
    as_int = requests.get(url, params={"$alt": "json;enum-encoding=int"}, headers=headers, timeout=5).json()
    as_name = requests.get(url, headers=headers, timeout=5).json()
    assert as_int["state"] == 1 and as_name["state"] == "ENABLED"
    assert as_int["createTime"].endswith("Z")


def test_revoke_secret_disables_every_version_and_is_recoverable(adapter):
    adapter.create_secret("revoked", "old")
    adapter.stage_version("revoked", "new", "t")
    adapter.revoke_secret("revoked")
    assert not any(v.enabled for v in adapter.describe_secret("revoked").versions)
    with pytest.raises(NotFound):
        adapter.get_secret("revoked")
    adapter.revoke_secret("revoked")  # a repeat is harmless
    adapter.client.enable_secret_version(name=adapter._path("revoked", 2))
    assert adapter.get_secret("revoked") == "new"


# -- crash-safe staging --------------------------------------------------------------------------------------
def crash_after_add(adapter, monkeypatch):
    real_add = adapter._add

    def add_then_die(secret_id, data):
        real_add(secret_id, data)
        raise Crash("died after addVersion answered, before the annotation")

    monkeypatch.setattr(adapter, "_add", add_then_die)


def test_staging_survives_a_crash_between_add_version_and_the_annotation(adapter, monkeypatch):
    adapter.create_secret("crashy", "v1")
    crash_after_add(adapter, monkeypatch)
    with pytest.raises(Other):
        adapter.stage_version("crashy", "v2", "tok")
    assert len(versions_of(adapter, "crashy")) == 2
    assert any(k.startswith(PENDING_PREFIX) for k in annotations_of(adapter, "crashy"))
    monkeypatch.undo()

    retried = adapter.stage_version("crashy", "v2", "tok")
    assert retried.version_id == "2" and retried.created is False
    versions = versions_of(adapter, "crashy")
    assert len(versions) == 2, "the retry recognised the write instead of repeating it"
    assert versions["2"].rotation_token == "tok"
    assert not any(k.startswith(PENDING_PREFIX) for k in annotations_of(adapter, "crashy"))
    assert adapter.stage_version("crashy", "v2", "tok") == retried


def test_the_crashed_write_is_recognised_even_when_the_retry_brings_a_new_value(adapter, monkeypatch):
    adapter.create_secret("regen", "v1")
    crash_after_add(adapter, monkeypatch)
    with pytest.raises(Other):
        adapter.stage_version("regen", "first-try", "tok")
    monkeypatch.undo()
    adapter.client.add_secret_version(parent=adapter._path("regen"), payload={"data": b"a stranger's write"})
    retried = adapter.stage_version("regen", "second-try", "tok")
    assert retried.version_id == "2" and adapter.get_secret_version("regen", "2") == "first-try"
    assert len(versions_of(adapter, "regen")) == 3


def test_a_crash_before_add_version_writes_exactly_once_on_retry(adapter, monkeypatch):
    adapter.create_secret("early", "v1")

    def die(secret_id, data):
        raise Crash("died after the pending marker, before addVersion")

    monkeypatch.setattr(adapter, "_add", die)
    with pytest.raises(Other):
        adapter.stage_version("early", "v2", "tok")
    monkeypatch.undo()
    staged = adapter.stage_version("early", "v2", "tok")
    assert staged.created is True and staged.version_id == "2"
    assert len(versions_of(adapter, "early")) == 2


def test_a_lost_add_version_answer_is_retried_without_a_second_version(adapter, monkeypatch):
    adapter.create_secret("lost", "v1")
    real_add, calls = adapter._add, []

    def add_then_lose_the_answer(secret_id, data):
        version = real_add(secret_id, data)
        calls.append(version)
        if len(calls) == 1:
            raise requests.exceptions.ReadTimeout("the answer never came")
        return version

    monkeypatch.setattr(adapter, "_add", add_then_lose_the_answer)
    staged = adapter.stage_version("lost", "v2", "tok")
    assert staged.version_id == "2" and staged.created is True, "this call wrote it; the caller had not seen it"
    assert calls == ["2"] and len(versions_of(adapter, "lost")) == 2


def test_old_rotation_annotations_are_pruned(adapter):
    adapter.create_secret("many", "v")
    for number in range(25):
        adapter.stage_version("many", f"value-{number}", f"token-{number}")
    keys = [k for k in annotations_of(adapter, "many") if k.startswith(ROTATION_PREFIX)]
    assert len(keys) == 20 and f"{ROTATION_PREFIX}26" in keys


# -- promotion and creation ----------------------------------------------------------------------------------
def test_promoting_an_older_version_writes_its_payload_again_once(adapter):
    adapter.create_secret("promo", "v1")
    staged = adapter.stage_version("promo", "v2", "rot")
    adapter.stage_version("promo", "v3", "other")
    adapter.promote_version("promo", staged.version_id)
    described = adapter.describe_secret("promo")
    assert adapter.get_secret("promo") == "v2" and described.current_version == "4"
    assert versions_of(adapter, "promo")["4"].rotation_token == "rot"
    adapter.promote_version("promo", staged.version_id)
    assert len(adapter.describe_secret("promo").versions) == 4, "a repeated promotion writes nothing"


def test_a_retried_create_recognises_its_own_secret(adapter):
    adapter._create("twice", b"value", "call-1")
    adapter._create("twice", b"value", "call-1")  # the first answer was lost; same call id
    assert len(versions_of(adapter, "twice")) == 1
    with pytest.raises(Other):
        adapter.create_secret("twice", "value")


def test_a_listing_repeats_a_failed_page_instead_of_ending_early(adapter, server):
    for number in range(7):
        adapter.create_secret(f"listed-{number}", "v")
    pages = adapter.list_secrets(page_size=100)
    first = next(pages)
    assert len(first) == server.max_page_size
    server.faults.fail_next(503)
    rest = [entry for page in pages for entry in page]
    assert {e.name for e in first + rest} == {f"listed-{n}" for n in range(7)}
    assert all(e.external_id.endswith(f"/secrets/{e.name}") and e.created_at for e in first + rest)


def test_labels_are_the_tags(adapter):
    adapter.create_secret("tagged", "v")
    adapter.client.update_secret(secret={"name": adapter._path("tagged"), "labels": {"team": "payments"}},
                                 update_mask={"paths": ["labels"]})
    listed = [e for page in adapter.list_secrets() for e in page if e.name == "tagged"]
    assert listed[0].tags == {"team": "payments"}


def test_a_slow_answer_times_out_and_is_retried(server):
    policy = CallPolicy(read_timeout=0.3, attempts=2, initial_wait=0.01, max_wait=0.01, total_timeout=5)
    config = GcpSecretManagerConfig(f"p-{uuid.uuid4().hex[:8]}", api_endpoint=server.url, access_token=TOKEN)
    adapter = GcpSecretManager(config, policy)
    adapter.create_secret("slow", "v")
    server.faults.delay_next(1)
    seen = server.faults.requests_seen
    assert adapter.get_secret("slow") == "v"
    assert server.faults.requests_seen - seen == 2


# -- credentials and connection ------------------------------------------------------------------------------
def test_anonymous_requests_to_a_server_wanting_a_token_are_authentication_failures(server):
    adapter = GcpSecretManager(GcpSecretManagerConfig("p", api_endpoint=server.url, anonymous=True), FAST_POLICY)
    with pytest.raises(AuthenticationFailed):
        adapter.get_secret("anything")


def test_a_missing_credentials_file_is_an_authentication_failure(tmp_path):
    config = GcpSecretManagerConfig("p", credentials_file=str(tmp_path / "absent.json"), api_endpoint="http://x")
    with pytest.raises(AuthenticationFailed):
        GcpSecretManager(config, FAST_POLICY).test_connection()


def test_from_settings_and_test_connection(server):
    adapter = GcpSecretManager.from_settings({"project_id": "p", "api_endpoint": server.url},
                                             {"access_token": TOKEN}, FAST_POLICY)
    assert adapter.test_connection().ok
    assert TOKEN not in repr(adapter.config)


def test_crc32c_is_castagnoli():
    assert crc32c(b"123456789") == 0xE3069283


# -- translation ---------------------------------------------------------------------------------------------
class FakeResponse:
    def __init__(self, status):
        self.status = status

    def json(self):
        return {"error": {"code": 400, "message": "...", "status": self.status}}


@pytest.mark.parametrize(("exc", "expected"), [
    (google_errors.NotFound("x"), NotFound),
    (google_errors.FailedPrecondition("Secret Version [v] is in DISABLED state."), NotFound),
    (google_errors.BadRequest("is in DESTROYED state", response=FakeResponse("FAILED_PRECONDITION")), NotFound),
    (google_errors.BadRequest("The etag provided does not match", response=FakeResponse("FAILED_PRECONDITION")),
     Other),
    (google_errors.BadRequest("bad id", response=FakeResponse("INVALID_ARGUMENT")), InvalidFormat),
    (google_errors.InvalidArgument("x"), InvalidFormat),
    (google_errors.BadRequest("x"), InvalidFormat),
    (google_errors.Unauthenticated("x"), AuthenticationFailed),
    (google_errors.Unauthorized("x"), AuthenticationFailed),
    (google_errors.PermissionDenied("x"), PermissionDenied),
    (google_errors.Forbidden("x"), PermissionDenied),
    (google_errors.TooManyRequests("x"), Throttled),
    (google_errors.ResourceExhausted("x"), Throttled),
    (google_errors.ServiceUnavailable("x"), NetworkError),
    (google_errors.InternalServerError("x"), NetworkError),
    (google_errors.DeadlineExceeded("x"), NetworkError),
    (google_errors.GatewayTimeout("x"), NetworkError),
    (google_errors.AlreadyExists("x"), Other),
    (google_errors.Conflict("x"), Other),
    (requests.exceptions.ConnectionError("refused"), NetworkError),
    (requests.exceptions.ReadTimeout("slow"), NetworkError),
    (google.auth.exceptions.TransportError("metadata server"), NetworkError),
    (google.auth.exceptions.RefreshError("invalid_grant"), AuthenticationFailed),
    (google.auth.exceptions.RefreshError("token endpoint 503", retryable=True), NetworkError),
    (google.auth.exceptions.DefaultCredentialsError("no ADC"), AuthenticationFailed),
    (google.auth.exceptions.InvalidOperation("Anonymous credentials cannot be refreshed."), AuthenticationFailed),
    (ValueError("something else"), Other),
])
def test_translate_maps_each_exception_class(exc, expected):
    translated = GcpSecretManager(GcpSecretManagerConfig("p", anonymous=True)).translate(exc, "get_secret")
    assert type(translated) is expected and translated.provider == "gcp"


def test_translated_messages_leave_the_server_message_out():
    leaked = google_errors.NotFound("no such version for s3cr3t-value")
    assert "s3cr3t" not in str(GcpSecretManager(GcpSecretManagerConfig("p")).translate(leaked, "get_secret"))
