"""A real Prometheus scrapes the web and a worker in a container of its own, as deploy/prometheus/prometheus.yml
does: what the worker's jobs counted arrives through the worker's exporter, and sum() adds both up."""
import django_rq
import pytest
import requests

from secretsadmin.metrics import SecretMetrics
from tests.monitoring.test_live_prometheus import query, running_prometheus, wait
from tests.monitoring.test_worker_exporter import TOKEN, count_retrieval, exporter  # noqa: F401 - a fixture

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def prometheus_for_both(tmp_path, live_server, exporter):  # noqa: F811 - the fixture imported above
    worker_url, _ = exporter
    worker_target = worker_url.removeprefix("http://").removesuffix("/metrics")
    (tmp_path / "token").write_text(TOKEN)
    with running_prometheus(tmp_path, f"""
  - job_name: secretsadmin
    metrics_path: /metrics
    static_configs: [{{targets: ["{live_server.url.removeprefix('http://')}"]}}]
  - job_name: secretsadmin-workers
    metrics_path: /metrics
    authorization: {{type: Bearer, credentials_file: "{tmp_path / 'token'}"}}
    static_configs: [{{targets: ["{worker_target}"]}}]
""") as base:
        yield base


def test_prometheus_adds_up_the_web_and_the_workers_counters(prometheus_for_both):
    base = prometheus_for_both
    queue = django_rq.get_queue("default", commit_mode="auto")
    jobs = [queue.enqueue(count_retrieval, "app/db#password", True) for _ in range(2)]
    SecretMetrics.record_secret_retrieval("app/db#password", True, "exporter-test")  # in the web's process
    wait(lambda: all(job.get_status(refresh=True) == "finished" for job in jobs), "the worker's jobs")

    by_job = 'sum by (job) (secret_retrieval_success_count_total{provider="exporter-test"})'

    def seen():
        return {row["metric"]["job"]: float(row["value"][1]) for row in query(base, by_job)}

    wait(lambda: seen() == {"secretsadmin": 1.0, "secretsadmin-workers": 2.0}, "both targets' counters")
    [total] = query(base, 'sum(secret_retrieval_success_count_total{provider="exporter-test"})')
    assert float(total["value"][1]) == 3.0
    targets = requests.get(f"{base}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
    assert {(t["labels"]["job"], t["health"]) for t in targets} == {("secretsadmin", "up"),
                                                                   ("secretsadmin-workers", "up")}
