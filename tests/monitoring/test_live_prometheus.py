"""A real Prometheus on loopback scrapes a running SecretsAdmin while a failing provider makes reveals fail;
its HTTP API then shows the failure counter and a non-zero rate. Bounded in time, stops by itself."""
import contextlib
import shutil
import subprocess
import time

import pytest
import requests

from providers.adapters.base import SecretError
from providers.reveal import reveal_value
from secretsadmin.process_group import free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
DEADLINE = 90


@contextlib.contextmanager
def running_prometheus(tmp_path, scrape_configs):
    """A real Prometheus on a free loopback port scraping every second; yields its base URL."""
    if not shutil.which(PROMETHEUS):
        pytest.fail("Prometheus is not installed: apt-get install prometheus (.ci/run does it)")
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n" + scrape_configs)
    port = free_port()
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "wb"))  # noqa: SIM115
    base = f"http://127.0.0.1:{port}"
    try:
        wait(lambda: requests.get(f"{base}/-/ready", timeout=2).status_code == 200, "Prometheus to start")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def prometheus(tmp_path, live_server):
    target = live_server.url.removeprefix("http://")
    with running_prometheus(tmp_path, f"""
  - job_name: secretsadmin
    metrics_path: /metrics
    static_configs: [{{targets: ["{target}"]}}]
""") as base:
        yield base


def wait(predicate, what):
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def query(base, expression):
    answer = requests.get(f"{base}/api/v1/query", params={"query": expression}, timeout=5).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def test_prometheus_sees_retrieval_failures_from_a_failing_provider(prometheus, secret, vault, role_users):
    wait(lambda: query(prometheus, 'up{job="secretsadmin"} == 1'), "the first successful scrape")
    vault.faults.fail_next(503, count=10_000)
    try:
        for _ in range(3):
            with pytest.raises(SecretError):
                reveal_value(secret, actor=role_users["erin"], reason="monitoring test")
    finally:
        vault.faults.clear()
    selector = (f'secret_retrieval_failure_count_total{{secret_name="{secret.name}",'
                f'provider="{secret.provider.name}"}}')
    wait(lambda: [float(r["value"][1]) for r in query(prometheus, selector)] == [3.0], "the failure counter")
    wait(lambda: query(prometheus, f"rate({selector}[1m]) > 0"), "a non-zero failure rate")
    network = query(prometheus, f'secret_network_errors_total{{provider="{secret.provider.name}"}}')
    assert network and float(network[0]["value"][1]) >= 3  # each failed attempt, through the same scrape
