"""AWS Secrets Manager specifics beyond the shared contract: the policy's config, staging labels, error mapping."""
import base64
import dataclasses
import uuid

import boto3
import botocore.exceptions
import pytest

from providers.adapters.aws import AwsSecretsConfig, AwsSecretsManager
from providers.adapters.base import (
    AuthenticationFailed,
    InvalidFormat,
    NetworkError,
    NotFound,
    Other,
    PermissionDenied,
    Throttled,
)
from tests.providers.conftest import FAST_POLICY
from tests.providers.fixtures_aws import TEST_KEYS

SECRET = "s3cr3t-never-in-a-message"


@pytest.fixture
def aws(provider_servers):
    under_test = provider_servers("aws")
    under_test.faults.clear()
    return under_test


@pytest.fixture
def adapter(aws):
    return aws.make_adapter()


def unique(base):
    return f"{base}-{uuid.uuid4().hex[:8]}"


def stages_of(adapter, name):
    """AWS's own view (describe_secret's VersionIdsToStages), not the adapter's reading of it."""
    return {version: sorted(stages) for version, stages
            in adapter.client.describe_secret(SecretId=name)["VersionIdsToStages"].items()}


def rotate(adapter, name, value):
    staged = adapter.stage_version(name, value, str(uuid.uuid4()))
    adapter.promote_version(name, staged.version_id)
    return staged.version_id


# -- configuration ---------------------------------------------------------------------------------------------
def test_config_has_the_policys_field_names():
    assert [f.name for f in dataclasses.fields(AwsSecretsConfig)] == ["region", "credentials_profile", "endpoint_url"]
    config = AwsSecretsConfig(region="eu-west-1")
    assert config.credentials_profile is None and config.endpoint_url is None


def test_the_client_uses_the_configured_region_and_endpoint(adapter):
    assert adapter.client.meta.region_name == "us-east-1"
    assert adapter.client.meta.endpoint_url == adapter.config.endpoint_url


def test_no_sdk_retries_are_layered_under_ours(adapter):
    config = adapter.client.meta.config
    assert config.retries == {"total_max_attempts": 1, "mode": "standard"}
    assert (config.connect_timeout, config.read_timeout) == (FAST_POLICY.connect_timeout, FAST_POLICY.read_timeout)


# -- staging and promotion -------------------------------------------------------------------------------------
def test_staging_puts_awspending_on_the_new_version_only(adapter):
    name = unique("staged")
    adapter.create_secret(name, "v1")
    original = adapter.describe_secret(name).current_version
    token = str(uuid.uuid4())
    assert adapter.stage_version(name, "v2", token).created
    assert stages_of(adapter, name) == {original: ["AWSCURRENT"], token: ["AWSPENDING"]}
    assert adapter.get_secret(name) == "v1", "a staged version must not become current"


def test_the_client_request_token_is_the_version_id(adapter):
    name, token = unique("token"), str(uuid.uuid4())
    adapter.create_secret(name, "v1")
    staged = adapter.stage_version(name, "v2", token)
    assert staged.version_id == token
    version = next(v for v in adapter.describe_secret(name).versions if v.version_id == token)
    assert version.rotation_token == token and version.stages == ("AWSPENDING",)
    assert adapter.client.get_secret_value(SecretId=name, VersionId=token)["SecretString"] == "v2"


def test_promotion_moves_awscurrent_and_awsprevious_follows(adapter):
    name = unique("promoted")
    adapter.create_secret(name, "v1")
    first = adapter.describe_secret(name).current_version
    second = rotate(adapter, name, "v2")
    assert stages_of(adapter, name) == {first: ["AWSPREVIOUS"], second: ["AWSCURRENT"]}
    third = rotate(adapter, name, "v3")
    stages = stages_of(adapter, name)
    # One AWSPREVIOUS: the first version is left without a label (AWS then omits it; moto lists it empty).
    assert (stages[second], stages[third], stages.get(first, [])) == (["AWSPREVIOUS"], ["AWSCURRENT"], [])
    assert adapter.get_secret(name) == "v3"
    assert adapter.describe_secret(name).current_version == third


def test_repeating_a_promotion_changes_nothing(aws, adapter):
    name = unique("promote-twice")
    adapter.create_secret(name, "v1")
    staged = adapter.stage_version(name, "v2", str(uuid.uuid4()))
    adapter.promote_version(name, staged.version_id)
    before = stages_of(adapter, name)
    seen = aws.faults.requests_seen
    adapter.promote_version(name, staged.version_id)
    assert aws.faults.requests_seen - seen == 1, "only the describe_secret that finds nothing to move"
    assert stages_of(adapter, name) == before
    assert adapter.get_secret(name) == "v2"


def test_promoting_an_unknown_version_is_not_found(adapter):
    name = unique("promote-unknown")
    adapter.create_secret(name, "v1")
    with pytest.raises(NotFound):
        adapter.promote_version(name, str(uuid.uuid4()))


def test_listing_never_asks_aws_for_more_than_100_per_page(adapter):
    adapter.create_secret(unique("page-size"), "v1")
    asked = []
    adapter.client.meta.events.register("provide-client-params.secrets-manager.ListSecrets",
                                        lambda params, **_: asked.append(params["MaxResults"]))
    assert sum(len(page) for page in adapter.list_secrets(page_size=500)) >= 1
    assert asked and max(asked) <= 100


# -- values ----------------------------------------------------------------------------------------------------
def test_a_binary_secret_comes_back_base64(adapter):
    name, payload = unique("binary"), b"\x00\xffnot-text\x80"
    raw = boto3.session.Session().client(
        "secretsmanager", region_name="us-east-1", endpoint_url=adapter.config.endpoint_url,
        aws_access_key_id=TEST_KEYS.access_key_id, aws_secret_access_key=TEST_KEYS.secret_access_key)
    raw.create_secret(Name=name, SecretBinary=payload)
    encoded = adapter.get_secret(name)
    assert encoded == base64.b64encode(payload).decode("ascii")
    assert base64.b64decode(encoded) == payload
    current = adapter.describe_secret(name).current_version
    assert adapter.get_secret_version(name, current) == encoded


# -- error translation -----------------------------------------------------------------------------------------
def client_error(code, message="", status=400):
    response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return botocore.exceptions.ClientError(response, "GetSecretValue")


@pytest.mark.parametrize(("error", "expected"), [
    (client_error("ResourceNotFoundException", "Secrets Manager can't find the specified secret."), NotFound),
    (client_error("InvalidRequestException", "You can't perform this operation on the secret because it was "
                                             "marked for deletion."), NotFound),
    (client_error("InvalidRequestException", "You can't do that in the secret's current state."), Other),
    (client_error("UnrecognizedClientException", "The security token included in the request is invalid."),
     AuthenticationFailed),
    (client_error("AccessDeniedException", "User is not authorized to perform this action"), PermissionDenied),
    (client_error("ThrottlingException", "Rate exceeded"), Throttled),
    (client_error("InternalServiceError", "An error occurred on the server side.", 500), NetworkError),
    (client_error("InvalidParameterException", "You provided an invalid value for a parameter."), InvalidFormat),
    (client_error("ResourceExistsException", "The operation failed because the secret already exists."), Other),
    (botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), NetworkError),
    (botocore.exceptions.ReadTimeoutError(endpoint_url="http://127.0.0.1:9"), NetworkError),
    (botocore.exceptions.NoCredentialsError(), AuthenticationFailed),
    (botocore.exceptions.ParamValidationError(report="Invalid length for parameter SecretId"), InvalidFormat),
], ids=lambda value: type(value).__name__ if isinstance(value, Exception) else value.__name__)
def test_sdk_errors_map_onto_the_taxonomy(adapter, error, expected):
    translated = adapter.translate(error, "get_secret")
    assert type(translated) is expected  # exact: Throttled is also a NetworkError
    assert translated.provider == "aws"
    assert "get_secret" in str(translated)


def test_an_sdk_error_never_escapes_and_keeps_its_cause(adapter):
    error = client_error("AccessDeniedException", f"not allowed to read {SECRET}")

    def denied():
        raise error

    with pytest.raises(PermissionDenied) as raised:
        adapter._run("get_secret", denied)
    assert raised.value.__cause__ is error
    assert SECRET not in str(raised.value), "the provider's message is not copied into ours"


def test_a_missing_credentials_profile_is_an_authentication_failure():
    with pytest.raises(AuthenticationFailed):
        config = AwsSecretsConfig(region="us-east-1", credentials_profile=f"absent-{uuid.uuid4().hex}")
        AwsSecretsManager(config, policy=FAST_POLICY).get_secret("anything")
