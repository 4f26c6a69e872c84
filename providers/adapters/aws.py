"""AWS Secrets Manager adapter (boto3). Staging uses AWSPENDING and ClientRequestToken; promotion moves AWSCURRENT."""
import base64
import re
from dataclasses import dataclass, field

import boto3
import botocore.exceptions
from botocore.config import Config

from providers.adapters.base import (
    AuthenticationFailed,
    ConnectionStatus,
    InvalidFormat,
    NetworkError,
    NotFound,
    Other,
    PermissionDenied,
    SecretDescription,
    SecretMetadata,
    SecretVersion,
    StagedVersion,
    Throttled,
)
from providers.adapters.calls import AdapterBase

CURRENT, PENDING, PREVIOUS = "AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"
_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")
_AUTH_CODES = {"UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException",
               "IncompleteSignature", "InvalidClientTokenId", "MissingAuthenticationToken", "AuthFailure"}
_DENIED_CODES = {"AccessDeniedException", "AccessDenied"}
_THROTTLE_CODES = {"ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded", "Throttling"}
_TRANSIENT_CODES = {"InternalServiceError", "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException"}


@dataclass(frozen=True)
class AwsSecretsConfig:
    """The policy's configuration: region, credentials profile and an optional endpoint (e.g. a VPC endpoint)."""

    region: str
    credentials_profile: str | None = None
    endpoint_url: str | None = None


@dataclass(frozen=True)
class AwsCredentials:
    """Explicit keys, resolved from environment variables or files at call time; never stored."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


class AwsSecretsManager(AdapterBase):
    kind = "aws"

    def __init__(self, config: AwsSecretsConfig, credentials: AwsCredentials | None = None, policy=None):
        super().__init__(policy)
        self.config = config
        try:
            session = boto3.session.Session(profile_name=config.credentials_profile) \
                if config.credentials_profile else boto3.session.Session()
        except botocore.exceptions.BotoCoreError as exc:  # e.g. a profile that is not configured
            raise self.translate(exc, "connect") from exc
        keys = {}
        if credentials:
            keys = {"aws_access_key_id": credentials.access_key_id,
                    "aws_secret_access_key": credentials.secret_access_key,
                    "aws_session_token": credentials.session_token}
        self.client = session.client(
            "secretsmanager", region_name=config.region, endpoint_url=config.endpoint_url,
            # Our own retry loop decides; the SDK's would multiply the attempts.
            config=Config(connect_timeout=self.policy.connect_timeout, read_timeout=self.policy.read_timeout,
                          retries={"total_max_attempts": 1, "mode": "standard"}),
            **keys,
        )

    @classmethod
    def from_settings(cls, settings: dict, credentials: dict, policy=None):
        config = AwsSecretsConfig(region=settings["region"], credentials_profile=settings.get("credentials_profile"),
                                  endpoint_url=settings.get("endpoint_url"))
        keys = None
        if credentials.get("access_key_id"):
            keys = AwsCredentials(credentials["access_key_id"], credentials["secret_access_key"],
                                  credentials.get("session_token"))
        return cls(config, keys, policy)

    # -- errors ---------------------------------------------------------------------------------------
    def translate(self, exc, operation):
        what = f"AWS {operation}"
        if isinstance(exc, botocore.exceptions.ClientError):
            error = exc.response.get("Error", {})
            code, message = error.get("Code", ""), error.get("Message", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code == "ResourceNotFoundException":
                return NotFound(f"{what}: no such secret", provider=self.kind)
            if code == "InvalidRequestException" and "delet" in message.lower():
                return NotFound(f"{what}: the secret is scheduled for deletion", provider=self.kind)
            if code in _AUTH_CODES:
                return AuthenticationFailed(f"{what}: credentials rejected ({code})", provider=self.kind)
            if code in _DENIED_CODES:
                return PermissionDenied(f"{what}: access denied", provider=self.kind)
            if code in _THROTTLE_CODES:
                return Throttled(f"{what}: throttled ({code})", provider=self.kind)
            if code in _TRANSIENT_CODES or status >= 500:
                return NetworkError(f"{what}: provider error {status} ({code})", provider=self.kind)
            if code in ("InvalidParameterException", "ValidationException"):
                return InvalidFormat(f"{what}: invalid parameter ({code})", provider=self.kind)
            return Other(f"{what}: {code or 'error'} ({status})", provider=self.kind)
        if isinstance(exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError
                      | botocore.exceptions.ProfileNotFound):
            return AuthenticationFailed(f"{what}: no usable credentials ({type(exc).__name__})", provider=self.kind)
        if isinstance(exc, botocore.exceptions.ParamValidationError):
            return InvalidFormat(f"{what}: invalid parameters", provider=self.kind)
        if isinstance(exc, botocore.exceptions.HTTPClientError | botocore.exceptions.ConnectionError):
            return NetworkError(f"{what}: cannot reach the endpoint ({type(exc).__name__})", provider=self.kind)
        return super().translate(exc, operation)

    def _check_name(self, name):
        if not _NAME.fullmatch(name or ""):
            raise InvalidFormat("Invalid secret name for AWS Secrets Manager: 1-512 of A-Z a-z 0-9 / _ + = . @ -",
                                provider=self.kind)

    # -- the policy's interface ---------------------------------------------------------------------
    def get_secret(self, name):
        self._check_name(name)
        # Explicit stage: the same as the default on AWS, and correct on servers that track a default id.
        return self._value(self._run("get_secret", self.client.get_secret_value, SecretId=name, VersionStage=CURRENT))

    def create_secret(self, name, value):
        self._check_name(name)
        self._run("create_secret", self.client.create_secret, Name=name, SecretString=value)

    def revoke_secret(self, name):
        self._check_name(name)
        # A recovery window rather than a force delete: a mistaken revoke can still be undone.
        self._run("revoke_secret", self.client.delete_secret, SecretId=name, RecoveryWindowInDays=7)

    # -- inventory ------------------------------------------------------------------------------------
    def list_secrets(self, page_size=100):
        # One retried call per page: a boto3 paginator generator is dead after its first exception.
        arguments = {"MaxResults": min(page_size, 100)}  # AWS refuses more than 100 per page
        while True:
            page = self._run("list_secrets", self.client.list_secrets, **arguments)
            yield [self._metadata(entry) for entry in page.get("SecretList", [])]
            if not page.get("NextToken"):
                return
            arguments["NextToken"] = page["NextToken"]

    def describe_secret(self, name):
        self._check_name(name)
        described = self._run("describe_secret", self.client.describe_secret, SecretId=name)
        versions = self._run("describe_secret", self.client.list_secret_version_ids, SecretId=name,
                             IncludeDeprecated=True, MaxResults=100)
        metadata = self._metadata(described)
        items = sorted(versions.get("Versions", []), key=lambda v: v.get("CreatedDate") or 0)
        return SecretDescription(
            **metadata.__dict__,
            versions=tuple(
                SecretVersion(version_id=v["VersionId"], stages=tuple(v.get("VersionStages", [])),
                              enabled=bool(v.get("VersionStages")), created_at=v.get("CreatedDate"),
                              rotation_token=v["VersionId"])  # AWS uses the request token as the version id
                for v in items
            ),
        )

    def get_secret_version(self, name, version):
        self._check_name(name)
        stages = self._stages(name).get(version)
        if not stages:
            # A version without any stage is deprecated (revoked here): AWS would still serve it.
            raise NotFound("AWS get_secret_version: no such version, or it was revoked", provider=self.kind)
        return self._value(self._run("get_secret_version", self.client.get_secret_value, SecretId=name,
                                     VersionId=version))

    # -- rotation -----------------------------------------------------------------------------------
    def stage_version(self, name, value, token):
        self._check_name(name)
        if token in self._stages(name):
            return StagedVersion(version_id=token, created=False)
        answer = self._run("stage_version", self.client.put_secret_value, SecretId=name, ClientRequestToken=token,
                           SecretString=value, VersionStages=[PENDING])
        return StagedVersion(version_id=answer["VersionId"], created=True)

    def promote_version(self, name, version):
        stages = self._stages(name)
        if version not in stages:
            raise NotFound("AWS promote_version: no such version", provider=self.kind)
        current = next((v for v, s in stages.items() if CURRENT in s), None)
        if current != version:
            # Moving AWSCURRENT makes AWS label the old current AWSPREVIOUS.
            self._run("promote_version", self.client.update_secret_version_stage, SecretId=name,
                      VersionStage=CURRENT, MoveToVersionId=version, RemoveFromVersionId=current)
        if PENDING in stages[version]:
            self._run("promote_version", self.client.update_secret_version_stage, SecretId=name,
                      VersionStage=PENDING, RemoveFromVersionId=version)

    def revoke_version(self, name, version):
        stages = self._stages(name)
        if version not in stages:
            raise NotFound("AWS revoke_version: no such version", provider=self.kind)
        if CURRENT in stages[version]:
            raise Other("AWS revoke_version: refusing to revoke the current version", provider=self.kind)
        for stage in stages[version]:
            self._run("revoke_version", self.client.update_secret_version_stage, SecretId=name,
                      VersionStage=stage, RemoveFromVersionId=version)

    def test_connection(self):
        self._run("test_connection", self.client.list_secrets, MaxResults=1)
        return ConnectionStatus(True, f"listed secrets in {self.config.region}")

    # -- helpers ---------------------------------------------------------------------------------------
    def _stages(self, name):
        described = self._run("describe_secret", self.client.describe_secret, SecretId=name)
        return {version: list(stages) for version, stages in described.get("VersionIdsToStages", {}).items()}

    @staticmethod
    def _value(answer):
        if "SecretString" in answer:
            return answer["SecretString"]
        # Binary secrets are returned base64-encoded so the interface stays str.
        return base64.b64encode(answer["SecretBinary"]).decode("ascii")

    @staticmethod
    def _metadata(entry):
        stages = entry.get("SecretVersionsToStages") or entry.get("VersionIdsToStages") or {}
        current = next((v for v, s in stages.items() if CURRENT in s), None)
        return SecretMetadata(
            name=entry["Name"], external_id=entry.get("ARN", ""), description=entry.get("Description", ""),
            tags={t["Key"]: t["Value"] for t in entry.get("Tags", [])}, created_at=entry.get("CreatedDate"),
            updated_at=entry.get("LastChangedDate"), last_rotated_at=entry.get("LastRotatedDate"),
            current_version=current, enabled=entry.get("DeletedDate") is None,
        )
