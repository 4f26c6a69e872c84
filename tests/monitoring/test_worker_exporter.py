"""A worker in a container of its own serves its processes' metrics (`manage.py rqworker_with_metrics`)."""
import subprocess

import django_rq
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from secretsadmin.process_group import free_port
from tests.conftest import BASE_DIR, MANAGE, PYTHON
from tests.rotation.workers import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
TOKEN = "worker-exporter-test-token-" + "x" * 16  # an obvious fixture, >= 32 characters


def count_retrieval(secret_name, success):
    """The job the worker's horse runs: one retrieval counted in that (forked, short-lived) process."""
    from secretsadmin.metrics import SecretMetrics

    SecretMetrics.record_secret_retrieval(secret_name, success, "exporter-test")


@pytest.fixture
def exporter(subprocess_env, tmp_path):
    """A real forking worker on the default queue, with a metrics directory of its own, as in a container."""
    port = free_port()
    directory = tmp_path / "multiproc"
    env = {**subprocess_env, "PROMETHEUS_MULTIPROC_DIR": str(directory), "METRICS_TOKEN": TOKEN}
    worker = subprocess.Popen(
        [PYTHON, MANAGE, "rqworker_with_metrics", "default", "--metrics-port", str(port),
         "--metrics-address", "127.0.0.1", "--metrics-archive-seconds", "0.5"],
        env=env, cwd=BASE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    url = f"http://127.0.0.1:{port}/metrics"

    def answering():
        if worker.poll() is not None:
            raise AssertionError(f"the worker exited: {worker.stderr.read().decode()[-2000:]}")
        try:
            return requests.get(url, timeout=2).status_code > 0
        except requests.ConnectionError:
            return False

    try:
        wait_for(answering, timeout=60, what="the worker's metrics endpoint")
        yield url, directory
    finally:  # never leave a worker behind to take the next test's jobs
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def retrievals(url):
    answer = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    return {(sample.name, sample.labels.get("secret_name")): sample.value
            for family in text_string_to_metric_families(answer.text) for sample in family.samples
            if sample.labels.get("provider") == "exporter-test"}


def test_a_jobs_metrics_are_served_by_its_workers_exporter_and_survive_the_horse(exporter):
    url, directory = exporter
    queue = django_rq.get_queue("default", commit_mode="auto")
    jobs = [queue.enqueue(count_retrieval, "app/db#password", True),
            queue.enqueue(count_retrieval, "app/db#password", True),
            queue.enqueue(count_retrieval, "app/api#key", False)]
    wait_for(lambda: all(job.get_status(refresh=True) == "finished" for job in jobs), what="the jobs")
    # Each job ran in a forked horse that has exited; the exporter folds their files into the archive.
    wait_for(lambda: (directory / "counter_archive.db").exists()
             and not [p for p in directory.glob("counter_*.db") if p.name != "counter_archive.db"
                      and _pid_dead(p)], what="the archive")
    scraped = retrievals(url)
    assert scraped[("secret_retrieval_success_count_total", "app/db#password")] == 2
    assert scraped[("secret_retrieval_failure_count_total", "app/api#key")] == 1


def _pid_dead(path):
    import psutil

    pid = path.stem.split("_")[-1]
    return pid.isdigit() and not psutil.pid_exists(int(pid))


@pytest.fixture
def closed_exporter(settings, monkeypatch, tmp_path):
    """The exporter's real HTTP server in this process, configured as production is: token only."""
    from secretsadmin.metrics_exporter import start_exporter

    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = TOKEN, []
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    server = start_exporter("127.0.0.1", free_port(), archive_seconds=60)
    yield f"http://127.0.0.1:{server.server_port}/metrics"
    server.stop_archiving.set()
    server.shutdown()
    server.server_close()


def test_the_exporter_refuses_scrapers_without_the_token(closed_exporter):
    url = closed_exporter
    missing = requests.get(url, timeout=5)
    wrong = requests.get(url, headers={"Authorization": "Bearer not-the-token"}, timeout=5)
    for answer in (missing, wrong):
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert "secret_" not in answer.text
    assert requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).status_code == 200
    assert requests.get(url.replace("/metrics", "/other"), timeout=5).status_code == 404
    assert requests.post(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).status_code == 405


@pytest.mark.parametrize(("arguments", "environment", "message"), [
    (["--metrics-port", "0"], {}, "--metrics-port must be between 1 and 65535, not 0"),
    (["--metrics-port", "9200", "--metrics-archive-seconds", "0"], {}, "--metrics-archive-seconds must be positive"),
    (["--metrics-port", "9200"], {"PROMETHEUS_MULTIPROC_DIR": "{tmp}/a-file/multiproc"},
     "PROMETHEUS_MULTIPROC_DIR is not set or not writable"),
])
def test_bad_options_stop_the_worker_with_one_line(subprocess_env, tmp_path, arguments, environment, message):
    (tmp_path / "a-file").write_text("not a directory")
    env = {**subprocess_env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "multiproc"),
           **{key: value.format(tmp=tmp_path) for key, value in environment.items()}}
    finished = subprocess.run([PYTHON, MANAGE, "rqworker_with_metrics", "default", "--burst", *arguments],
                              env=env, cwd=BASE_DIR, capture_output=True, text=True, timeout=120)
    assert finished.returncode != 0
    assert message in finished.stderr
    assert "Traceback" not in finished.stderr


def test_a_port_in_use_is_a_clear_error(subprocess_env, tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        finished = subprocess.run(
            [PYTHON, MANAGE, "rqworker_with_metrics", "default", "--burst", "--metrics-address", "127.0.0.1",
             "--metrics-port", str(port)],
            env={**subprocess_env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}, cwd=BASE_DIR,
            capture_output=True, text=True, timeout=120)
    assert finished.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port} for metrics" in finished.stderr
    assert "Traceback" not in finished.stderr
