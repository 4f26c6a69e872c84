"""Every metric the alert rules may use (deploy/alerts/exposed-metrics.txt) is in a real scrape, with its labels."""
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from providers.models import Provider
from rotation import metrics as rotation_metrics
from secretsadmin.login_security import LOGIN_FAILURES, LOGIN_LOCKOUTS
from secretsadmin.metrics import SecretMetrics, SecretOperationTimer
from secretsadmin.mfa.services import MFA_FAILURES, RECOVERY_CODES_USED
from secretsadmin.posture import compute_inventory_snapshot

pytestmark = pytest.mark.django_db
LISTED = Path(__file__).resolve().parents[2] / "deploy" / "alerts" / "exposed-metrics.txt"


def listed_metrics():
    for line in LISTED.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _kind, labels, *_ = line.split()
            yield name, set() if labels == "-" else set(labels.split(","))


def test_every_listed_metric_is_in_the_scrape_with_its_labels(client):
    provider = Provider.objects.create(kind="vault", name="exposed", settings={"address": "http://127.0.0.1:1"})
    compute_inventory_snapshot()
    # One sample of each event, so that every series exists (multiprocess mode lists only what has samples).
    for success in (True, False):
        SecretMetrics.record_secret_retrieval("exposed#k", success, provider="exposed")
        SecretMetrics.record_secret_rotation("exposed#k", success, provider="exposed")
    SecretMetrics.record_network_error("exposed", "read")
    SecretMetrics.record_auth_failure("exposed", "read")
    with SecretOperationTimer("read", provider="exposed"):
        pass
    rotation_metrics.step_finished(SimpleNamespace(secret=SimpleNamespace(provider=provider)), "staging", "success",
                                   0.1)
    LOGIN_FAILURES.inc()
    LOGIN_LOCKOUTS.inc()
    MFA_FAILURES.labels(method="totp", reason="wrong_code").inc()
    RECOVERY_CODES_USED.inc()
    answer = client.get(reverse("metrics"))
    assert answer.status_code == 200
    scraped = {}
    for family in text_string_to_metric_families(answer.content.decode()):
        for sample in family.samples:
            scraped.setdefault(sample.name, set()).update(sample.labels)
    missing = [name for name, _ in listed_metrics() if name not in scraped]
    assert missing == [], f"listed for the alert rules but not exposed: {missing}"
    for name, labels in listed_metrics():
        assert labels <= scraped[name], f"{name}: labels {labels - scraped[name]} are not exposed"
