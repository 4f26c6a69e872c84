"""Prometheus metrics: the policy's SecretMetrics and SecretOperationTimer, shared by every app.

Names in the exposition. prometheus_client appends `_total` to every counter, so the policy's
`secret_retrieval_success_count` is scraped as `secret_retrieval_success_count_total` (and so on); the
alert rules in deploy/alerts/ are written against the exposed names, and a test compares the two.

The `secret_name` label. One time series per secret is what an on-call engineer wants ("which secret?"),
but with tens of thousands of secrets it multiplies Prometheus's memory. METRICS_SECRET_NAME_LABEL:
  "full"    the secret's name (default; fine up to a few thousand secrets that are actually read/rotated)
  "bucket"  one of 64 stable hash buckets ("bucket-17"): bounded series, and the audit log says which secret
  "drop"    an empty label: per-provider totals only
"""
import functools
import hashlib
import time

from django.conf import settings
from prometheus_client import Counter, Histogram

LABELS = ("secret_name", "provider")
BUCKETS = 64

RETRIEVAL_SUCCESS = Counter("secret_retrieval_success_count", "Secret values read successfully", LABELS)
RETRIEVAL_FAILURE = Counter("secret_retrieval_failure_count", "Secret value reads that failed", LABELS)
ROTATION_SUCCESS = Counter("secret_rotation_success_count", "Rotations that promoted a new version", LABELS)
ROTATION_FAILURE = Counter("secret_rotation_failure_count", "Rotations that stopped and need attention", LABELS)
NETWORK_ERRORS = Counter("secret_network_errors", "Provider calls that failed to reach the provider (each attempt)",
                         ["provider", "operation"])
AUTH_FAILURES = Counter("secret_auth_failures", "Provider calls refused for bad or missing credentials",
                        ["provider", "operation"])
OPERATION_SECONDS = Histogram("secret_operation_duration_seconds", "Duration of provider operations, retries included",
                              ["operation", "provider"],
                              buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))


def secret_label(secret_name):
    mode = settings.METRICS_SECRET_NAME_LABEL
    if mode == "drop":
        return ""
    if mode == "bucket":
        digest = hashlib.sha256(secret_name.encode()).digest()
        return f"bucket-{int.from_bytes(digest[:4], 'big') % BUCKETS:02d}"
    return secret_name


class SecretMetrics:
    """The policy's SecretMetrics, with the provider label added."""

    @staticmethod
    def record_secret_retrieval(secret_name, success, provider=""):
        counter = RETRIEVAL_SUCCESS if success else RETRIEVAL_FAILURE
        counter.labels(secret_name=secret_label(secret_name), provider=provider).inc()

    @staticmethod
    def record_secret_rotation(secret_name, success, provider=""):
        counter = ROTATION_SUCCESS if success else ROTATION_FAILURE
        counter.labels(secret_name=secret_label(secret_name), provider=provider).inc()

    @staticmethod
    def record_network_error(provider, operation):
        NETWORK_ERRORS.labels(provider=provider, operation=operation).inc()

    @staticmethod
    def record_auth_failure(provider, operation):
        AUTH_FAILURES.labels(provider=provider, operation=operation).inc()


class SecretOperationTimer:
    """The policy's SecretOperationTimer::new("get_secret"): a context manager and a decorator.

        with SecretOperationTimer("get_secret", provider="prod-vault"):
            ...
        @SecretOperationTimer("list_secrets")
        def ...
    """

    def __init__(self, operation, provider=""):
        self.operation, self.provider = operation, provider

    def __enter__(self):
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc_info):
        OPERATION_SECONDS.labels(operation=self.operation, provider=self.provider).observe(
            time.perf_counter() - self._started)
        return False

    def __call__(self, function):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            with SecretOperationTimer(self.operation, self.provider):
                return function(*args, **kwargs)

        return timed
