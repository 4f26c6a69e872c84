"""One real local server per provider kind, started once per session, for the contract suite."""
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from providers.adapters.base import SecretManager
from providers.adapters.calls import CallPolicy

KINDS = ("aws", "vault", "azure", "gcp")

# Retries and timeouts small enough that fault tests take seconds, large enough to be real retries.
FAST_POLICY = CallPolicy(connect_timeout=1, read_timeout=2, attempts=3, initial_wait=0.01, max_wait=0.05,
                         total_timeout=5)


@dataclass
class ProviderUnderTest:
    kind: str
    make_adapter: Callable[..., SecretManager]
    faults: object
    unreachable_adapter: Callable[[], SecretManager]
    name: Callable[[str], str]
    invalid_name: str
    list_page_limit: int
    stop: Callable[[], None]


@pytest.fixture(params=KINDS)
def provider(request, provider_servers):
    return provider_servers(request.param)


@pytest.fixture
def vault(provider_servers):
    return provider_servers("vault")
