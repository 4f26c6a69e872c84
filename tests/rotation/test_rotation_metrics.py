"""A rotation carried out by a real worker process is counted in the web process's /metrics scrape."""
import pytest
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from rotation.models import RotationRequest
from tests.rotation.workers import approve, run_burst_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def samples(client):
    answer = client.get(reverse("metrics"))
    assert answer.status_code == 200
    return [(s.name, s.labels, s.value) for f in text_string_to_metric_families(answer.content.decode())
            for s in f.samples]


def test_a_worker_rotation_shows_in_the_webs_metrics(client, secret, role_users, worker_env):
    rotation = approve(secret, role_users)
    run_burst_worker(worker_env)
    rotation.refresh_from_db()
    assert rotation.state == RotationRequest.State.SUCCEEDED
    scraped = samples(client)
    labels = {"secret_name": secret.name, "provider": secret.provider.name}
    assert ("secret_rotation_success_count_total", labels, 1.0) in scraped
    steps = {(found["step"], found["outcome"]) for name, found, count in scraped
             if name == "secretsadmin_rotation_steps_total" and found["provider"] == secret.provider.name
             and count == 1}
    assert steps == {(step, "success") for step in ("staging", "applying", "verifying", "promoting", "revoking_old")}
    timed = {found["operation"] for name, found, _ in scraped
             if name == "secret_operation_duration_seconds_count" and found["provider"] == secret.provider.name}
    assert {"stage_version", "promote_version", "revoke_version"} <= timed
