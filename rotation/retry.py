"""How long a failed step waits before its next attempt: capped exponential backoff with full jitter."""
from types import SimpleNamespace

from django.conf import settings
from tenacity import wait_exponential_jitter


def retry_delay(attempt):
    """Seconds to wait after the `attempt`-th consecutive failure (1-based)."""
    wait = wait_exponential_jitter(multiplier=settings.ROTATION_RETRY_BASE_SECONDS,
                                   max=settings.ROTATION_RETRY_MAX_SECONDS,
                                   jitter=settings.ROTATION_RETRY_BASE_SECONDS)
    return wait(SimpleNamespace(attempt_number=attempt))
