"""The "webhook" target: tells a receiver, with a signed POST that never carries the value, that a secret rotated.

The receiver fetches the new value from the secret manager itself. It deduplicates by the request id
(X-SecretsAdmin-Request-Id), so is_applied always answers False and a re-run simply sends again. verify is a
no-op: the receiver's 2xx to apply was its acknowledgement, and there is nothing further we could observe.

Signature: X-SecretsAdmin-Signature: sha256=<hex HMAC-SHA256 over "<X-SecretsAdmin-Timestamp>.<raw body>">,
keyed with the shared secret; receivers should also reject stale timestamps. Each attempt is signed afresh
so a late retry still passes a receiver's freshness window.
"""
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from rotation.targets.base import ConfigChecker, RotationTarget, TargetContext, TargetError, read_credential

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
MAX_BACKOFF_SECONDS = 30  # the cap on one wait; the worker's own retry takes over after the last attempt
RETRY_STATUSES = {429} | set(range(500, 600))
USER_AGENT = "SecretsAdmin-rotation-webhook/1"


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The X-SecretsAdmin-Signature header value for a timestamp and raw body."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class RetryableDelivery(Exception):
    """A delivery attempt that may succeed later (network error, 5xx, 429)."""


class WebhookTarget(RotationTarget):
    kind = "webhook"

    @classmethod
    def validate(cls, config: dict) -> dict:
        check = ConfigChecker(cls.kind, config, allowed={
            "url", "hmac_secret_env", "hmac_secret_file", "timeout_seconds", "attempts", "backoff_seconds",
            "verify_tls", "ca_bundle"})
        url = check.text("url", required=True)
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018  (raises ValueError for a port out of range)
        except ValueError:
            check.fail("url", "is not a valid URL")
        if not parts.hostname:
            check.fail("url", "must include a host")
        if parts.username is not None or parts.password is not None:
            check.fail("url", "must not embed credentials (the request is signed with the HMAC secret)")
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS):
            check.fail("url", "must be https (http is allowed only for 127.0.0.1, localhost and ::1)")
        normalised = {
            "url": url,
            **check.credential_source("hmac_secret_env", "hmac_secret_file", required=True),
            "timeout_seconds": check.number("timeout_seconds", default=10, minimum=0.1, maximum=120),
            "attempts": check.integer("attempts", default=3, minimum=1, maximum=10),
            "backoff_seconds": check.number("backoff_seconds", default=1, minimum=0, maximum=MAX_BACKOFF_SECONDS),
            "verify_tls": check.boolean("verify_tls", default=True),
        }
        ca_bundle = check.absolute_path("ca_bundle")
        if ca_bundle is not None:
            if not normalised["verify_tls"]:
                check.fail("ca_bundle", 'is pointless with "verify_tls": false')
            normalised["ca_bundle"] = ca_bundle
        return normalised

    def describe(self) -> str:
        # Path and query are left out: many receivers put a token there.
        parts = urlsplit(self.config["url"])
        return f"Webhook to {parts.scheme}://{parts.netloc} (signed, value never sent)"

    def is_applied(self, new_value: str, context: TargetContext) -> bool:
        return False

    def verify(self, new_value: str, context: TargetContext) -> None:
        return None

    def apply(self, new_value: str, context: TargetContext) -> None:
        secret = read_credential(self.config, "hmac_secret_env", "hmac_secret_file", "Webhook HMAC secret").encode()
        body = json.dumps({
            "event": "secret.rotated",
            "request_id": context.request_id,
            "secret": context.secret_name,
            "provider": context.provider,
            "version": context.new_version,
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        }, separators=(",", ":"), sort_keys=True).encode()
        retrying = Retrying(
            stop=stop_after_attempt(self.config["attempts"]),
            # Full jitter, so receivers recovering from an outage are not hit by every worker at once.
            wait=wait_random_exponential(multiplier=self.config["backoff_seconds"], max=MAX_BACKOFF_SECONDS),
            retry=retry_if_exception_type(RetryableDelivery),
            reraise=True,
        )
        try:
            retrying(self._post, secret, body, context)
        except RetryableDelivery as exc:
            raise TargetError(f"{self.describe_endpoint()}: no success after {self.config['attempts']} attempts "
                              f"(last: {exc})", transient=True) from None

    def _post(self, secret, body, context):
        timestamp = str(int(time.time()))
        try:
            response = requests.post(
                self.config["url"], data=body, timeout=self.config["timeout_seconds"], allow_redirects=False,
                verify=self.config.get("ca_bundle", self.config["verify_tls"]),
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": USER_AGENT,
                    "X-SecretsAdmin-Request-Id": context.request_id,
                    "X-SecretsAdmin-Timestamp": timestamp,
                    "X-SecretsAdmin-Signature": sign(secret, timestamp, body),
                },
            )
        except requests.exceptions.SSLError:
            # A certificate the receiver will not fix by itself: retrying only delays needs_attention.
            raise TargetError(f"{self.describe_endpoint()}: TLS verification failed") from None
        except requests.RequestException as exc:
            # Only the class name: requests' messages repeat the URL, whose path may hold a token.
            raise RetryableDelivery(type(exc).__name__) from None
        response.close()
        if 200 <= response.status_code < 300:
            return
        if response.status_code in RETRY_STATUSES:
            raise RetryableDelivery(f"HTTP {response.status_code}")
        raise TargetError(f"{self.describe_endpoint()}: receiver answered HTTP {response.status_code}")

    def describe_endpoint(self):
        parts = urlsplit(self.config["url"])
        return f"Webhook {parts.scheme}://{parts.netloc}"
