"""The error handlers' metrics, against a real OpenBao: network errors (each attempt) and auth failures."""
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from providers.adapters.base import AuthenticationFailed, NetworkError
from secretsadmin.metrics_view import registry

pytestmark = pytest.mark.django_db


def counter(name, **labels):
    for family in text_string_to_metric_families(generate_latest(registry()).decode()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0


def test_network_errors_and_auth_failures_are_counted(provider_servers):
    vault = provider_servers("vault")
    adapter = vault.make_adapter()
    adapter.metrics_provider = "metrics-vault"
    before = counter("secret_network_errors_total", provider="metrics-vault", operation="read")
    vault.faults.fail_next(503, count=100)
    try:
        with pytest.raises(NetworkError):
            adapter.get_secret("contract/metrics#password")
    finally:
        vault.faults.clear()
    # FAST_POLICY makes 3 attempts: each failed attempt is one network error.
    assert counter("secret_network_errors_total", provider="metrics-vault", operation="read") == before + 3

    refused = vault.make_adapter(bad_credentials=True)
    refused.metrics_provider = "metrics-vault"
    before = counter("secret_auth_failures_total", provider="metrics-vault")
    with pytest.raises(AuthenticationFailed):
        refused.get_secret("contract/metrics#password")
    assert counter("secret_auth_failures_total", provider="metrics-vault") == before + 1
