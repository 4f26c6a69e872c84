"""docker-compose.yml and deploy/ are validated here, since no Docker engine runs on this machine."""
import importlib.util
import re
import runpy
from pathlib import Path

import pytest
import yaml

BASE_DIR = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ["migrate", "web", "worker", "rotation-worker", "scheduler"]
WORKERS = ["worker", "rotation-worker"]
LONG_RUNNING = [name for name in SERVICES if name != "migrate"]
GUNICORN_CONF = BASE_DIR / "deploy" / "gunicorn.conf.py"
PROMETHEUS_CONF = yaml.safe_load((BASE_DIR / "deploy" / "prometheus" / "prometheus.yml").read_text())


def _command(service):
    command = SERVICES[service]["command"]
    return command if isinstance(command, list) else command.split()


def _package_dir(package):
    # find_spec of a top-level package locates it without importing it: importing django_rq needs settings.
    spec = importlib.util.find_spec(package)
    return Path(spec.origin).parent if spec and spec.origin else None


def _management_command_exists(name):
    """True if `manage.py NAME` would find a command: one of ours, django-rq's, or Django's own."""
    candidates = list(BASE_DIR.glob(f"*/management/commands/{name}.py"))
    django_rq, django = _package_dir("django_rq"), _package_dir("django")
    if django_rq:
        candidates.append(django_rq / "management" / "commands" / f"{name}.py")
    if django:
        candidates.append(django / "core" / "management" / "commands" / f"{name}.py")
        candidates += django.glob(f"contrib/*/management/commands/{name}.py")
    return any(path.is_file() for path in candidates)


def _strings(node):
    """Every string in a parsed YAML tree (values, and the keys of mappings)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif node is not None:
        yield str(node)


def test_it_defines_the_production_services():
    assert set(SERVICES) == {"postgres", "redis", "migrate", "web", "worker", "rotation-worker", "scheduler",
                             "prometheus"}
    assert SERVICES["postgres"]["image"] == "postgres:16-alpine"
    assert SERVICES["redis"]["image"] == "redis:7-alpine"
    assert SERVICES["prometheus"]["image"].startswith("prom/prometheus:")


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_services_share_the_image_and_the_production_environment(service):
    config = SERVICES[service]
    assert config["build"] == "." and config["image"] == "secretsadmin:latest"
    environment = config["environment"]
    assert environment["SECRETSADMIN_ENV"] == "production"
    assert environment["REDIS_URL"] == "redis://redis:6379/0"
    assert environment["ALLOWED_HOSTS"] == "${ALLOWED_HOSTS:-localhost}"
    assert environment["SECRET_KEY_FILE"] == "/run/secrets/secret_key"
    assert environment["DATABASE_URL_FILE"] == "/run/secrets/database_url"
    assert {"secret_key", "database_url"} <= set(config["secrets"])


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_every_long_running_service_has_a_health_check(service):
    test = SERVICES[service]["healthcheck"]["test"]
    assert test[0] in {"CMD", "CMD-SHELL"} and len(test) >= 2, test
    assert SERVICES[service]["restart"] == "unless-stopped"


def test_health_checks_probe_the_right_thing():
    def probe(service):
        return " ".join(SERVICES[service]["healthcheck"]["test"][1:])

    assert probe("postgres").startswith("pg_isready")
    assert probe("redis") == "redis-cli ping"
    assert probe("prometheus") == "wget -qO- http://127.0.0.1:9090/-/healthy"
    assert probe("worker") == "python manage.py rq_healthcheck worker"
    assert probe("rotation-worker") == "python manage.py rq_healthcheck worker"
    assert probe("scheduler") == "python manage.py rq_healthcheck scheduler"


def test_web_health_check_asks_for_healthz_as_an_allowed_host():
    # Django answers a request for Host 127.0.0.1:8000 with 400 unless that is in ALLOWED_HOSTS.
    test = SERVICES["web"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    code = test[3]
    compile(code, "web healthcheck", "exec")
    assert "http://127.0.0.1:8000/healthz" in code
    assert "ALLOWED_HOSTS" in code and "'Host'" in code
    assert "$" not in code  # Compose would try to interpolate it


def test_migrations_run_once_before_the_app_starts():
    assert SERVICES["migrate"]["restart"] == "no"
    assert "healthcheck" not in SERVICES["migrate"]
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "migrate" not in SERVICES["migrate"]["depends_on"]
    for service in ("web", *WORKERS, "scheduler"):
        depends_on = SERVICES[service]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully"
        assert depends_on["postgres"]["condition"] == "service_healthy"
        assert depends_on["redis"]["condition"] == "service_healthy"


@pytest.mark.parametrize("service", ["web", *WORKERS])
def test_scalable_services_have_no_fixed_container_name(service):
    assert "container_name" not in SERVICES[service]


def test_web_is_published_on_port_8000():
    assert SERVICES["web"]["ports"] == ["8000:8000"]


def test_redis_persists_its_data():
    command = _command("redis")
    assert command[command.index("--appendonly") + 1] == "yes"
    assert "--save" not in command
    assert any(volume.endswith(":/data") for volume in SERVICES["redis"]["volumes"])


def test_the_management_command_lookup_can_say_no():
    assert _management_command_exists("migrate")
    assert _management_command_exists("rqworker")
    assert _management_command_exists("collectstatic")  # django.contrib.staticfiles
    assert not _management_command_exists("no_such_command")


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_commands_refer_to_things_that_exist(service):
    command = _command(service)
    if command[0] == "gunicorn":
        module, _, attribute = command[1].partition(":")
        assert (BASE_DIR / (module.replace(".", "/") + ".py")).is_file()
        assert attribute == "application"
        assert (BASE_DIR / command[command.index("--config") + 1]).is_file()
    else:
        assert command[:2] == ["python", "manage.py"]
        assert _management_command_exists(command[2]), command[2]
        if command[2] == "rqcron":
            assert (BASE_DIR / (command[3].replace(".", "/") + ".py")).is_file()
        if "--worker-class" in command:
            module = command[command.index("--worker-class") + 1].rpartition(".")[0]
            assert (BASE_DIR / (module.replace(".", "/") + ".py")).is_file()


@pytest.mark.parametrize("service", [*WORKERS, "scheduler"])
def test_health_check_commands_exist(service):
    test = SERVICES[service]["healthcheck"]["test"]
    assert test[1:3] == ["python", "manage.py"]
    assert _management_command_exists(test[3])


def test_the_cron_schedule_loads_and_its_queues_are_worked():
    from rq.cron import CronScheduler

    # Plain RQ's scheduler registers without touching Redis or Django settings.
    scheduler = CronScheduler(connection=None)
    scheduler.load_config_from_file(_command("scheduler")[3])
    jobs = {job.func_name: job for job in scheduler.get_jobs()}
    job = jobs["secretsadmin.jobs.clear_expired_sessions_job"]
    assert (job.queue_name, job.cron) == ("default", "17 3 * * *")
    worked = {queue for worker in WORKERS for queue in _queues(worker)}
    assert {job.queue_name for job in jobs.values()} <= worked
    assert worked == {"default", "rotation", "sync", "reports"}


def _queues(worker):
    """The queue names a worker service's command works (the positional arguments before the first option)."""
    queues = []
    for argument in _command(worker)[3:]:
        if argument.startswith("--"):
            break
        queues.append(argument)
    return queues


def test_rotations_run_in_a_worker_of_their_own_without_a_fork_per_job():
    assert _queues("rotation-worker") == ["rotation"]
    command = _command("rotation-worker")
    assert command[command.index("--worker-class") + 1] == "rotation.jobs.RotationWorker"
    assert "rotation" not in _queues("worker")  # never behind a sync, never in a forked horse


def test_no_credential_literals():
    text = (BASE_DIR / "docker-compose.yml").read_text()
    for name, service in [("x-app", COMPOSE["x-app"]), *SERVICES.items()]:
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"(^|_)(PASSWORD|SECRET|KEY|TOKEN|CREDENTIALS?)(_|$)|DATABASE_URL", key):
                assert key.endswith("_FILE") and str(value).startswith("/run/secrets/"), f"{name}: {key}"
        for string in _strings({k: service.get(k) for k in ("command", "entrypoint", "healthcheck")}):
            assert not re.search(r"(PASSWORD|SECRET_KEY|TOKEN)=(?!/run/secrets/)", string), f"{name}: {string}"
    assert not re.search(r"(postgres(ql)?|redis)://[^/\s:@]+:[^@\s]+@", text), "a URL with a password"


def test_file_variables_point_at_secrets_the_service_mounts():
    for name, service in SERVICES.items():
        mounted = {s if isinstance(s, str) else s["source"] for s in service.get("secrets", [])}
        assert mounted <= set(COMPOSE["secrets"]), name
        for key, value in (service.get("environment") or {}).items():
            if key.endswith("_FILE"):
                assert value.removeprefix("/run/secrets/") in mounted, f"{name}: {key}"


def test_secrets_come_from_git_ignored_files_under_deploy_secrets():
    ignore = (BASE_DIR / "deploy" / ".gitignore").read_text().split()
    assert "/secrets/*.txt" in ignore  # relative to deploy/, i.e. deploy/secrets/*.txt
    assert (BASE_DIR / "deploy" / "secrets" / "README.md").is_file()
    assert set(COMPOSE["secrets"]) == {"secret_key", "database_url", "postgres_password", "metrics_token"}
    for name, secret in COMPOSE["secrets"].items():
        assert secret["file"] == f"./deploy/secrets/{name}.txt", name
        assert (BASE_DIR / secret["file"]).resolve().parent == BASE_DIR / "deploy" / "secrets"


def test_postgres_reads_its_password_from_a_secret():
    environment = SERVICES["postgres"]["environment"]
    assert environment["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert "POSTGRES_PASSWORD" not in environment


def test_prometheus_multiprocess_dir_is_private_and_set_only_where_it_is_created_and_served():
    # Any process with the variable set writes metric files there and crashes if it is missing; the files
    # are named by pid, which means something only inside one container, so each has a tmpfs of its own.
    # gunicorn (on_starting) and rqworker_with_metrics create it, and each serves it on its own port.
    for name in APP_SERVICES:
        environment = SERVICES[name]["environment"]
        command = _command(name)
        if command[0] == "gunicorn" or command[2] == "rqworker_with_metrics":
            directory = environment["PROMETHEUS_MULTIPROC_DIR"]
            assert SERVICES[name]["tmpfs"] == [directory], name
            assert "volumes" not in SERVICES[name], name
        else:
            assert "PROMETHEUS_MULTIPROC_DIR" not in environment, name


@pytest.mark.parametrize("service", ["web", *WORKERS])
def test_services_with_metrics_know_the_token_prometheus_presents(service):
    assert SERVICES[service]["environment"]["METRICS_TOKEN_FILE"] == "/run/secrets/metrics_token"
    assert "metrics_token" in SERVICES[service]["secrets"]


def test_prometheus_mounts_exist_in_the_repository():
    targets = {}
    for volume in SERVICES["prometheus"]["volumes"]:
        source, target = volume.split(":")[:2]
        targets[target] = source
        if source.startswith("./"):
            assert (BASE_DIR / source).exists(), source
    assert targets["/etc/prometheus/prometheus.yml"] == "./deploy/prometheus/prometheus.yml"
    assert targets["/etc/prometheus/rules"] == "./deploy/prometheus/rules"
    assert (BASE_DIR / "deploy" / "prometheus" / "rules").is_dir()


def test_prometheus_scrapes_every_web_and_worker_replica_with_the_mounted_token():
    assert PROMETHEUS_CONF["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    jobs = {job["job_name"]: job for job in PROMETHEUS_CONF["scrape_configs"]}
    assert set(jobs) == {"secretsadmin", "secretsadmin-workers"}
    mounted = {s["target"]: s["source"] for s in SERVICES["prometheus"]["secrets"]}
    for job in jobs.values():
        assert job["metrics_path"] == "/metrics"
        assert mounted[job["authorization"]["credentials_file"]] == "metrics_token"
    [web] = jobs["secretsadmin"]["dns_sd_configs"]
    assert (web["names"], web["port"]) == (["web"], 8000)
    [workers] = jobs["secretsadmin-workers"]["dns_sd_configs"]
    assert sorted(workers["names"]) == sorted(WORKERS)
    for worker in WORKERS:
        command = _command(worker)
        assert command[2] == "rqworker_with_metrics"
        assert int(command[command.index("--metrics-port") + 1]) == workers["port"]


def test_gunicorn_config_compiles():
    compile(GUNICORN_CONF.read_text(), str(GUNICORN_CONF), "exec")


def test_gunicorn_config_settings(monkeypatch):
    monkeypatch.delenv("GUNICORN_WORKERS", raising=False)
    monkeypatch.delenv("GUNICORN_BIND", raising=False)
    settings = runpy.run_path(str(GUNICORN_CONF))
    uncapped = settings["workers"]
    assert uncapped == 2 * settings["_cores"]() + 1
    assert settings["bind"] == "0.0.0.0:8000"
    assert (settings["threads"], settings["timeout"], settings["graceful_timeout"]) == (2, 30, 30)
    assert settings["accesslog"] == "-"

    monkeypatch.setenv("GUNICORN_WORKERS", "1")
    assert runpy.run_path(str(GUNICORN_CONF))["workers"] == 1
    monkeypatch.setenv("GUNICORN_WORKERS", str(uncapped + 10))
    assert runpy.run_path(str(GUNICORN_CONF))["workers"] == uncapped  # a cap, never a raise
    monkeypatch.setenv("GUNICORN_WORKERS", "zero")
    with pytest.raises(SystemExit, match="GUNICORN_WORKERS"):
        runpy.run_path(str(GUNICORN_CONF))


def test_gunicorn_clears_only_stale_metric_files_at_start(monkeypatch, tmp_path):
    settings = runpy.run_path(str(GUNICORN_CONF))
    directory = tmp_path / "multiproc"
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    settings["on_starting"](None)  # unset: nothing to do
    assert not directory.exists()

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    settings["on_starting"](None)
    assert directory.is_dir()
    (directory / "counter_123.db").write_bytes(b"stale")
    (directory / "unrelated.txt").write_text("kept")
    settings["on_starting"](None)
    assert sorted(p.name for p in directory.iterdir()) == ["unrelated.txt"]


def test_gunicorn_folds_a_dead_workers_metric_files_when_it_exits(monkeypatch, tmp_path):
    from tests.monitoring.test_metrics_archive import run_child, values

    settings = runpy.run_path(str(GUNICORN_CONF))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    run_child(tmp_path, 3)  # a process that counted and exited, as a recycled gunicorn worker does
    before = values(tmp_path)
    [counter] = tmp_path.glob("counter_*.db")
    pid = int(counter.stem.split("_")[1])

    class Worker:
        pass

    worker = Worker()
    worker.pid = pid
    settings["child_exit"](None, worker)
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["counter_archive.db", "histogram_archive.db"]
    assert values(tmp_path) == pytest.approx(before)
