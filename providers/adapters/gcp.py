"""Google Cloud Secret Manager adapter (official client, REST transport). Names are `secret_id` or `secret_id/version`.

How the interface maps onto Secret Manager, which has no version stages:
- The current version is the newest ENABLED one (what "latest" means to a reader once disabled ones are skipped).
- revoke_secret disables every enabled version. That is recoverable (enable them again) where deleting the secret
  is not, and a revoke must be undoable when it was a mistake.
- Rotation tokens live in the secret's annotations, one key per version: `secretsadmin-rotation-<version>` = token
  (annotation keys allow only 63 characters of [A-Za-z0-9._-], so the token, whose length we don't control, is the
  value). Staging writes a version, so a staged version is current at once: Google offers no "not yet current" state.
"""
import base64
import hmac
import re
import uuid
from dataclasses import dataclass, field

import google.api_core.exceptions as google_errors
import google.auth
import google.auth.exceptions
import requests
import urllib3.exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import secretmanager_v1
from google.oauth2 import service_account
from google.oauth2.credentials import Credentials as TokenCredentials
from google.protobuf import field_mask_pb2

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
from providers.adapters.gcp_marks import PENDING_PREFIX, crc32c, payload_mark, pending_key, rpc_status

NAME_ERROR = ("Invalid secret name for Google Secret Manager: expected 'secret_id' or 'secret_id/version' "
              "(secret_id: 1-255 of A-Z a-z 0-9 _ -; version: a number)")
_SECRET_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
_VERSION_ID = re.compile(r"[1-9][0-9]{0,18}")
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
ENABLED = secretmanager_v1.SecretVersion.State.ENABLED
ROTATION_PREFIX = "secretsadmin-rotation-"  # + version id -> rotation token
CREATED_BY = "secretsadmin-create"  # the call that created the secret, so a retried create can recognise its work
KEEP_TOKENS = 20  # annotations share a 16 KiB budget with the owner's: keep the newest tokens only
KEEP_PENDING = 5
ETAG_ATTEMPTS = 3
_NETWORK_ERRORS = (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                   requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError,
                   urllib3.exceptions.TimeoutError, urllib3.exceptions.NewConnectionError,
                   google.auth.exceptions.TransportError)


def _version_id(resource_name):
    return resource_name.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class GcpSecretManagerConfig:
    """The policy's configuration: project, service-account key file (None = application default credentials) and an
    optional endpoint. access_token and anonymous exist for local servers and tests."""

    project_id: str
    credentials_file: str | None = None
    api_endpoint: str | None = None
    access_token: str | None = field(default=None, repr=False)
    anonymous: bool = False


class GcpSecretManager(AdapterBase):
    kind = "gcp"

    def __init__(self, config: GcpSecretManagerConfig, policy=None):
        super().__init__(policy)
        if not config.project_id or "/" in config.project_id:
            raise InvalidFormat("GCP: project_id is required and is a bare project id or number", provider=self.kind)
        self.config = config
        self.parent = f"projects/{config.project_id}"
        self._client = None

    @classmethod
    def from_settings(cls, settings: dict, credentials: dict, policy=None):
        return cls(GcpSecretManagerConfig(
            project_id=settings["project_id"], credentials_file=settings.get("credentials_file"),
            api_endpoint=settings.get("api_endpoint"), access_token=credentials.get("access_token"),
            anonymous=str(settings.get("anonymous", "")).lower() in ("1", "true", "yes"),  # config values are strings
        ), policy)

    @property
    def client(self):
        # Built on first use, inside _run: finding no credentials then becomes AuthenticationFailed, not a crash
        # wherever an adapter is merely constructed. Always REST (also against Google itself): one wire protocol,
        # the one the test server speaks, with plain requests timeouts and no gRPC channel retrying underneath us.
        if self._client is None:
            options = {"api_endpoint": self.config.api_endpoint} if self.config.api_endpoint else None
            self._client = secretmanager_v1.SecretManagerServiceClient(
                credentials=self._credentials(), transport="rest", client_options=options)
        return self._client

    def _credentials(self):
        config = self.config
        if config.anonymous:
            return AnonymousCredentials()
        if config.access_token:
            return TokenCredentials(config.access_token)
        if config.credentials_file:
            # The service-account loader, not the generic one: that would also accept external-account configs
            # that run commands or fetch URLs, which a key file path in our settings has no reason to do.
            try:
                return service_account.Credentials.from_service_account_file(config.credentials_file, scopes=SCOPES)
            except (OSError, ValueError, KeyError) as exc:
                raise AuthenticationFailed(f"GCP: cannot load the service-account key file ({type(exc).__name__})",
                                           provider=self.kind) from None
        return google.auth.default(scopes=SCOPES)[0]

    # -- errors ---------------------------------------------------------------------------------------
    def translate(self, exc, operation):
        # Server messages are left out: a message is never allowed to carry a value, and we can't vouch for theirs.
        what, kind = f"GCP {operation}", self.kind
        if isinstance(exc, google_errors.GoogleAPICallError):
            status = rpc_status(exc) or type(exc).__name__
            if isinstance(exc, google_errors.NotFound):
                return NotFound(f"{what}: no such secret or version", provider=kind)
            if isinstance(exc, google_errors.BadRequest) and status == "FAILED_PRECONDITION":
                if "etag" in (exc.message or "").lower():
                    return Other(f"{what}: the secret changed concurrently (etag mismatch)", provider=kind)
                return NotFound(f"{what}: the version is disabled or destroyed", provider=kind)
            if isinstance(exc, google_errors.Unauthorized):
                return AuthenticationFailed(f"{what}: credentials rejected", provider=kind)
            if isinstance(exc, google_errors.Forbidden):
                return PermissionDenied(f"{what}: permission denied", provider=kind)
            if isinstance(exc, google_errors.TooManyRequests):
                return Throttled(f"{what}: throttled ({status})", provider=kind)
            if isinstance(exc, google_errors.ServerError):
                return NetworkError(f"{what}: provider error {exc.code} ({status})", provider=kind)
            if isinstance(exc, google_errors.BadRequest):
                return InvalidFormat(f"{what}: invalid request ({status})", provider=kind)
            return Other(f"{what}: {status} ({exc.code})", provider=kind)
        if isinstance(exc, _NETWORK_ERRORS) or getattr(exc, "retryable", False):
            return NetworkError(f"{what}: cannot reach the endpoint ({type(exc).__name__})", provider=kind)
        if isinstance(exc, google.auth.exceptions.GoogleAuthError):
            return AuthenticationFailed(f"{what}: no usable credentials ({type(exc).__name__})", provider=kind)
        return super().translate(exc, operation)

    def _parse(self, name, allow_version=False):
        secret_id, _, version = (name or "").partition("/")
        if not _SECRET_ID.fullmatch(secret_id) or ("/" in (name or "") and not _VERSION_ID.fullmatch(version)):
            raise InvalidFormat(NAME_ERROR, provider=self.kind)
        if version and not allow_version:
            raise InvalidFormat(f"GCP: '{secret_id}/<version>' is only accepted where a value is read",
                                provider=self.kind)
        return secret_id, version or None

    def _check_version(self, version):
        if not _VERSION_ID.fullmatch(str(version or "")):
            raise InvalidFormat("GCP: a version id is a positive number", provider=self.kind)
        return str(version)

    # -- the policy's interface ---------------------------------------------------------------------
    # Each public method is one _run around a procedure of raw calls, so a retry after a network error repeats
    # the whole procedure; every procedure is written to be safe to repeat.
    def get_secret(self, name):
        secret_id, version = self._parse(name, allow_version=True)
        if version:
            return self._run("get_secret", self._read, secret_id, version)
        return self._run("get_secret", self._read_current, secret_id)

    def create_secret(self, name, value):
        secret_id, _ = self._parse(name)
        self._run("create_secret", self._create, secret_id, value.encode(), uuid.uuid4().hex)

    def revoke_secret(self, name):
        secret_id, _ = self._parse(name)
        self._run("revoke_secret", self._disable_all, secret_id)

    # -- inventory ------------------------------------------------------------------------------------
    def list_secrets(self, page_size=100):
        token = ""
        while True:
            # One page per _run with our own page token: a pager's generator dies with its first exception, so a
            # retried next() on it would end the listing early instead of repeating the page.
            page = self._run("list_secrets", self._call, "list_secrets", parent=self.parent, page_size=page_size,
                             page_token=token)
            yield [self._metadata(secret) for secret in page.secrets]
            token = page.next_page_token
            if not token:
                return

    def describe_secret(self, name):
        secret_id, _ = self._parse(name)
        return self._run("describe_secret", self._describe, secret_id)

    def get_secret_version(self, name, version):
        secret_id, _ = self._parse(name)
        return self._run("get_secret_version", self._read, secret_id, self._check_version(version))

    # -- rotation -----------------------------------------------------------------------------------
    def stage_version(self, name, value, token):
        secret_id, _ = self._parse(name)
        if not token:
            raise InvalidFormat("GCP stage_version: a rotation token is required", provider=self.kind)
        return self._run("stage_version", self._stage, secret_id, value.encode(), token, {})

    def promote_version(self, name, version):
        secret_id, _ = self._parse(name)
        self._run("promote_version", self._promote, secret_id, self._check_version(version))

    def revoke_version(self, name, version):
        secret_id, _ = self._parse(name)
        self._run("revoke_version", self._revoke_one, secret_id, self._check_version(version))

    def test_connection(self):
        self._run("test_connection", self._call, "list_secrets", parent=self.parent, page_size=1)
        return ConnectionStatus(True, f"listed secrets in project {self.config.project_id}")

    # -- procedures (raw calls; run inside _run) -------------------------------------------------------
    def _call(self, method, **request):
        # retry=None: AdapterBase owns retries; the client's own would multiply the attempts.
        # Only one timeout reaches requests here, so the connect timeout is the read timeout too.
        return getattr(self.client, method)(request=request, timeout=self.policy.read_timeout, retry=None)

    def _path(self, secret_id, version=None):
        path = f"{self.parent}/secrets/{secret_id}"
        return f"{path}/versions/{version}" if version else path

    def _access(self, secret_id, version):
        payload = self._call("access_secret_version", name=self._path(secret_id, version)).payload
        if "data_crc32c" in payload and crc32c(payload.data) != payload.data_crc32c:
            raise NetworkError("GCP: the payload checksum does not match (corrupted in transit)", provider=self.kind)
        return payload.data

    def _read(self, secret_id, version):
        return self._text(self._access(secret_id, version))

    def _read_current(self, secret_id):
        try:
            return self._read(secret_id, "latest")
        except google_errors.BadRequest as exc:
            # "latest" is the newest version whatever its state; when it is disabled, the current one is older.
            if rpc_status(exc) != "FAILED_PRECONDITION":
                raise
        current = self._current(self._versions(secret_id))
        if current is None:
            raise NotFound("GCP get_secret: the secret has no enabled version (revoked?)", provider=self.kind)
        return self._read(secret_id, current)

    def _versions(self, secret_id):
        """Every version, oldest first (the service lists newest first)."""
        versions = self._call("list_secret_versions", parent=self._path(secret_id), page_size=250)
        return sorted(versions, key=lambda v: int(_version_id(v.name)))

    @staticmethod
    def _current(versions):
        enabled = [_version_id(v.name) for v in versions if v.state == ENABLED]
        return enabled[-1] if enabled else None

    def _add(self, secret_id, data):
        # Sending the checksum makes the service verify the payload arrived intact.
        added = self._call("add_secret_version", parent=self._path(secret_id),
                           payload={"data": data, "data_crc32c": crc32c(data)})
        return _version_id(added.name)

    def _create(self, secret_id, data, call_id):
        try:
            self._call("create_secret", parent=self.parent, secret_id=secret_id,
                       secret={"replication": {"automatic": {}}, "annotations": {CREATED_BY: call_id}})
        except google_errors.Conflict:
            # Our own earlier attempt may have created it before its answer was lost; anyone else's is a conflict.
            if self._call("get_secret", name=self._path(secret_id)).annotations.get(CREATED_BY) != call_id:
                raise
        if not self._call("list_secret_versions", parent=self._path(secret_id), page_size=1).versions:
            self._add(secret_id, data)

    def _disable_all(self, secret_id):
        for version in self._versions(secret_id):
            if version.state == ENABLED:
                self._call("disable_secret_version", name=version.name)

    def _describe(self, secret_id):
        secret = self._call("get_secret", name=self._path(secret_id))
        versions = self._versions(secret_id)
        tokens = self._tokens(secret.annotations)
        current = self._current(versions)
        rotated = [v.create_time for v in versions if _version_id(v.name) in tokens]
        metadata = self._metadata(secret, current=current, enabled=current is not None).__dict__
        return SecretDescription(
            **{**metadata, "last_rotated_at": rotated[-1] if rotated else None},
            versions=tuple(
                SecretVersion(version_id=_version_id(v.name), enabled=v.state == ENABLED, created_at=v.create_time,
                              stages=("current",) if _version_id(v.name) == current else (),
                              rotation_token=tokens.get(_version_id(v.name)))
                for v in versions
            ),
        )

    def _stage(self, secret_id, data, token, attempt):
        # `attempt` outlives _run's retries of this call: when an earlier attempt of this same call wrote the
        # version (and only its answer was lost), the caller has not seen it yet, so it counts as created.
        secret = self._call("get_secret", name=self._path(secret_id))
        known = sorted((v for v, t in self._tokens(secret.annotations).items() if t == token), key=int)
        if known:
            return StagedVersion(version_id=known[0], created=attempt.get("marked", False))
        versions = self._versions(secret_id)
        marker = secret.annotations.get(pending_key(token))
        if marker:
            # Write-ahead record from an attempt that may have died between addVersion and the annotation: the
            # first enabled version newer than the recorded "newest" whose payload carries the recorded mark is that
            # attempt's write (even when this retry brings a regenerated value). The mark is a 128-bit HMAC, so a
            # stranger's version written in the same window cannot be mistaken for ours.
            after, _, mark = marker.partition(":")
            for version in versions:
                number = _version_id(version.name)
                if int(number) > int(after) and version.state == ENABLED \
                        and hmac.compare_digest(payload_mark(token, self._access(secret_id, number)), mark):
                    self._annotate(secret_id, secret, {ROTATION_PREFIX + number: token}, drop=[pending_key(token)])
                    return StagedVersion(version_id=number, created=attempt.get("marked", False))
        # Record the intent before writing, so a crash after the write can be recognised (above) instead of repeated.
        newest = _version_id(versions[-1].name) if versions else "0"
        secret = self._annotate(secret_id, secret, {pending_key(token): f"{newest}:{payload_mark(token, data)}"})
        attempt["marked"] = True
        version = self._add(secret_id, data)
        self._annotate(secret_id, secret, {ROTATION_PREFIX + version: token}, drop=[pending_key(token)])
        return StagedVersion(version_id=version, created=True)

    def _promote(self, secret_id, version):
        secret = self._call("get_secret", name=self._path(secret_id))
        versions = {_version_id(v.name): v for v in self._versions(secret_id)}
        if version not in versions:
            raise NotFound("GCP promote_version: no such version", provider=self.kind)
        if versions[version].state != ENABLED:
            raise Other("GCP promote_version: the version is disabled or destroyed", provider=self.kind)
        current = self._current(versions.values())
        if current == version:
            return
        # The newest enabled version is what readers get, so promoting an older one writes its payload again.
        # When the current payload already equals it (a repeat after a crash, or the same value) that is done.
        data, token = self._access(secret_id, version), self._tokens(secret.annotations).get(version)
        target = current if self._access(secret_id, current) == data else self._add(secret_id, data)
        if token and self._tokens(secret.annotations).get(target) != token:
            self._annotate(secret_id, secret, {ROTATION_PREFIX + target: token})

    def _revoke_one(self, secret_id, version):
        versions = {_version_id(v.name): v for v in self._versions(secret_id)}
        if version not in versions:
            raise NotFound("GCP revoke_version: no such version", provider=self.kind)
        if version == self._current(versions.values()):
            raise Other("GCP revoke_version: refusing to revoke the current version", provider=self.kind)
        if versions[version].state == ENABLED:
            self._call("disable_secret_version", name=versions[version].name)

    def _annotate(self, secret_id, secret, changes, drop=()):
        """Merge `changes` into the annotations under the secret's etag; re-read when someone else got there first."""
        for _ in range(ETAG_ATTEMPTS):
            annotations = {**secret.annotations, **changes}
            for key in drop:
                annotations.pop(key, None)
            self._prune(annotations)
            try:
                return self._call("update_secret", secret={"name": self._path(secret_id), "etag": secret.etag,
                                                           "annotations": annotations},
                                  update_mask=field_mask_pb2.FieldMask(paths=["annotations"]))
            except google_errors.BadRequest as exc:
                if rpc_status(exc) != "FAILED_PRECONDITION":
                    raise
                secret = self._call("get_secret", name=self._path(secret_id))
        raise Other("GCP: the secret's annotations kept changing concurrently", provider=self.kind)

    @staticmethod
    def _prune(annotations):
        rotations = sorted((k for k in annotations if k.startswith(ROTATION_PREFIX)),
                           key=lambda k: int(k.removeprefix(ROTATION_PREFIX) or 0))
        pending = sorted((k for k in annotations if k.startswith(PENDING_PREFIX)),
                         key=lambda k: int(annotations[k].partition(":")[0] or 0))
        for stale in rotations[:-KEEP_TOKENS] + pending[:-KEEP_PENDING]:
            del annotations[stale]

    @staticmethod
    def _tokens(annotations):
        return {k.removeprefix(ROTATION_PREFIX): v for k, v in annotations.items() if k.startswith(ROTATION_PREFIX)}

    @staticmethod
    def _text(data):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            # Binary payloads come back base64-encoded so the interface stays str (as the AWS adapter does).
            return base64.b64encode(data).decode("ascii")

    def _metadata(self, secret, current=None, enabled=True):
        return SecretMetadata(
            name=_version_id(secret.name), external_id=secret.name, tags=dict(secret.labels),
            created_at=secret.create_time, current_version=current, enabled=enabled,
        )
