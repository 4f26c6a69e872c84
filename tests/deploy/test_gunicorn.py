"""deploy/gunicorn.conf.py: the worker count from the CPUs the container may use, its settings, its hooks."""
import os
import runpy
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

BASE_DIR = Path(__file__).resolve().parents[2]
GUNICORN_CONF = BASE_DIR / "deploy" / "gunicorn.conf.py"
GUNICORN = Path(sys.executable).parent / "gunicorn"


def load(monkeypatch, **environ):
    for name in ("GUNICORN_WORKERS", "GUNICORN_BIND", "FORWARDED_ALLOW_IPS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(GUNICORN_CONF))


def cgroup(tmp_path, v2=None, v1=None):
    root = tmp_path / "cgroup"
    root.mkdir(parents=True)
    if v2 is not None:
        (root / "cpu.max").write_text(v2 + "\n")
    if v1 is not None:
        (root / "cpu").mkdir()
        (root / "cpu" / "cpu.cfs_quota_us").write_text(f"{v1[0]}\n")
        (root / "cpu" / "cpu.cfs_period_us").write_text(f"{v1[1]}\n")
    return root


def test_it_is_tuned_for_a_proxy_and_threads(monkeypatch):
    conf = load(monkeypatch)
    assert conf["bind"] == "0.0.0.0:8000"
    assert conf["worker_class"] == "gthread" and conf["threads"] == 2
    assert (conf["timeout"], conf["graceful_timeout"]) == (30, 30)
    assert conf["keepalive"] > 60  # longer than the proxies' 60 s idle timeout, so the proxy closes first
    assert conf["max_requests"] > 0 and 0 < conf["max_requests_jitter"] < conf["max_requests"]
    assert conf["forwarded_allow_ips"] == "127.0.0.1,::1"
    assert conf["control_socket_disable"] is True
    assert conf["accesslog"] == conf["errorlog"] == "-"
    assert load(monkeypatch, FORWARDED_ALLOW_IPS="*")["forwarded_allow_ips"] == "*"


def test_workers_follow_the_cpus_and_gunicorn_workers_only_caps_them(monkeypatch):
    conf = load(monkeypatch)
    uncapped = conf["workers"]
    assert uncapped == 2 * conf["_cores"]() + 1
    assert load(monkeypatch, GUNICORN_WORKERS="1")["workers"] == 1
    assert load(monkeypatch, GUNICORN_WORKERS=str(uncapped + 10))["workers"] == uncapped  # a cap, never a raise
    with pytest.raises(SystemExit, match="GUNICORN_WORKERS"):
        load(monkeypatch, GUNICORN_WORKERS="zero")


def test_a_cgroup_cpu_quota_limits_the_cores(monkeypatch, tmp_path):
    conf = load(monkeypatch)
    cores, worker_count = conf["_cores"], conf["_worker_count"]
    affinity = len(os.sched_getaffinity(0))
    assert cores(cgroup(tmp_path / "none")) == affinity  # no cgroup files: the CPUs we may run on
    assert cores(cgroup(tmp_path / "unlimited", v2="max 100000")) == affinity
    assert cores(cgroup(tmp_path / "one", v2="100000 100000")) == 1
    assert cores(cgroup(tmp_path / "half", v2="50000 100000")) == 1  # never zero
    assert cores(cgroup(tmp_path / "v1", v1=(100000, 100000))) == 1
    assert cores(cgroup(tmp_path / "v1-unlimited", v1=(-1, 100000))) == affinity
    assert cores(cgroup(tmp_path / "garbage", v2="lots 100000")) == affinity
    if affinity >= 2:
        assert cores(cgroup(tmp_path / "one-and-a-half", v2="150000 100000")) == 2
    # A Kubernetes limits.cpu of 1 gives 3 workers whatever the node's size.
    assert worker_count({}, cgroup(tmp_path / "pod", v2="100000 100000")) == 3


def test_gunicorn_accepts_the_configuration_and_loads_the_production_app(tmp_path):
    environ = {
        "PATH": os.environ["PATH"],
        "SECRETSADMIN_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "secrets.example.test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": settings.REDIS_URL,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    check = [str(GUNICORN), "--check-config", "--config", str(GUNICORN_CONF), "secretsadmin.wsgi:application"]
    result = subprocess.run(check, cwd=BASE_DIR, env=environ, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr

    # It can fail: a production start-up without a strong key is refused while loading.
    environ["SECRET_KEY"] = "short"
    result = subprocess.run(check, cwd=BASE_DIR, env=environ, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "SECRET_KEY is too weak for production" in result.stderr


def test_gunicorn_clears_only_stale_metric_files_at_start(monkeypatch, tmp_path):
    conf = load(monkeypatch)
    directory = tmp_path / "multiproc"
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    conf["on_starting"](None)  # unset: nothing to do
    assert not directory.exists()

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    conf["on_starting"](None)
    assert directory.is_dir()
    (directory / "counter_123.db").write_bytes(b"stale")
    (directory / "counter_archive.db").write_bytes(b"stale")
    (directory / "unrelated.txt").write_text("kept")
    conf["on_starting"](None)
    assert sorted(p.name for p in directory.iterdir()) == ["unrelated.txt"]


def test_gunicorn_folds_a_dead_workers_metric_files_when_it_exits(monkeypatch, tmp_path):
    from tests.monitoring.test_metrics_archive import run_child, values

    conf = load(monkeypatch)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    run_child(tmp_path, 3)  # a process that counted and exited, as a recycled gunicorn worker does
    before = values(tmp_path)
    [counter] = tmp_path.glob("counter_*.db")
    pid = int(counter.stem.split("_")[1])

    class Worker:
        pass

    worker = Worker()
    worker.pid = pid
    conf["child_exit"](None, worker)
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["counter_archive.db", "histogram_archive.db"]
    assert values(tmp_path) == pytest.approx(before)
