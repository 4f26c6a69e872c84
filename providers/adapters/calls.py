"""How adapters call an SDK: error translation, timeouts and bounded retries with backoff and jitter."""
import logging
from dataclasses import dataclass

import tenacity

from providers.adapters.base import AuthenticationFailed, NetworkError, Other, SecretError, SecretManager
from secretsadmin.metrics import SecretMetrics, SecretOperationTimer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallPolicy:
    """Timeouts of every call, and how network errors and throttling are retried."""

    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    attempts: int = 4
    initial_wait: float = 0.25
    max_wait: float = 4.0
    total_timeout: float = 30.0  # no operation retries for longer than this, whatever `attempts` says


def _count(error, provider, operation):
    """The policy's error-handler metrics: every network error (each attempt) and authentication failure."""
    if isinstance(error, NetworkError):
        SecretMetrics.record_network_error(provider, operation)
    elif isinstance(error, AuthenticationFailed):
        SecretMetrics.record_auth_failure(provider, operation)


class AdapterBase(SecretManager):
    """Shared plumbing: `self._run(operation, fn)` runs fn with translation, retries and metrics."""

    metrics_provider = ""  # set by providers.registry to the provider's name; the kind otherwise

    def __init__(self, policy: CallPolicy | None = None):
        self.policy = policy or CallPolicy()

    def translate(self, exc: Exception, operation: str) -> SecretError:
        """Map one SDK exception onto the taxonomy (each adapter overrides this)."""
        return Other(f"{operation} failed: {type(exc).__name__}", provider=self.kind)

    def _run(self, operation, fn, *args, **kwargs):
        policy = self.policy
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(NetworkError),
            stop=tenacity.stop_after_attempt(policy.attempts) | tenacity.stop_after_delay(policy.total_timeout),
            wait=tenacity.wait_exponential_jitter(multiplier=policy.initial_wait, max=policy.max_wait,
                                                 jitter=policy.initial_wait),
            before_sleep=lambda state: log.warning(
                "%s %s: %s, retrying (attempt %d)", self.kind, operation,
                type(state.outcome.exception()).__name__, state.attempt_number,
            ),
            reraise=True,
        )
        provider = self.metrics_provider or self.kind
        with SecretOperationTimer(operation, provider):
            for attempt in retrying:
                with attempt:
                    try:
                        return fn(*args, **kwargs)
                    except SecretError as exc:
                        _count(exc, provider, operation)
                        raise
                    except Exception as exc:
                        translated = self.translate(exc, operation)
                        _count(translated, provider, operation)
                        raise translated from exc
        raise AssertionError("unreachable: tenacity re-raises the last error")
