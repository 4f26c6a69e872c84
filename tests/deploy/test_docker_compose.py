"""docker-compose.yml and its files under deploy/ are validated here, since no Docker engine runs on this machine."""
import re
from pathlib import Path

import pytest
import yaml

from tests.deploy.commands import management_command_exists
from tests.deploy.dockerfile import stages

BASE_DIR = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ["migrate", "web", "worker", "rotation-worker", "scheduler"]
WORKERS = ["worker", "rotation-worker"]
SCALABLE = ["web", *WORKERS]
LONG_RUNNING = [name for name in SERVICES if name != "migrate"]
PROMETHEUS_CONF = yaml.safe_load((BASE_DIR / "deploy" / "prometheus" / "prometheus.yml").read_text())
NGINX_CONF = (BASE_DIR / "deploy" / "nginx" / "nginx.conf").read_text()
IMAGE = stages()[-1]  # the Dockerfile's final stage: what `image: secretsadmin:latest` runs


def _image_default(keyword):
    [instruction] = IMAGE.all(keyword)
    return instruction.exec_form()


def _argv(service):
    """What the container runs: the service's entrypoint and command, or the image's, as Docker combines them.

    A service that sets an entrypoint drops the image's CMD as well (Compose passes an empty command)."""
    config = SERVICES[service]
    entrypoint = config.get("entrypoint")
    command = config.get("command")
    if isinstance(command, str):
        command = command.split()
    if entrypoint is None:
        return _image_default("ENTRYPOINT") + (command if command is not None else _image_default("CMD"))
    return list(entrypoint) + (command or [])


def _in_image(path):
    """A path inside the image (/app/...) as a path of this checkout (the Dockerfile copies the tree to /app)."""
    assert path.startswith("/app/"), path
    return BASE_DIR / path.removeprefix("/app/")


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
                             "proxy", "prometheus"}
    assert SERVICES["postgres"]["image"] == "postgres:16-alpine"
    assert SERVICES["redis"]["image"] == "redis:7-alpine"
    assert SERVICES["prometheus"]["image"].startswith("prom/prometheus:v")
    assert re.fullmatch(r"nginx:\d+\.\d+-alpine", SERVICES["proxy"]["image"])


def test_one_service_builds_the_image_and_every_app_service_runs_it():
    builders = [name for name, config in SERVICES.items() if "build" in config]
    assert builders == ["migrate"]
    build = SERVICES["migrate"]["build"]
    assert (BASE_DIR / build["context"] / build["dockerfile"]).resolve() == BASE_DIR / "Dockerfile"
    for service in APP_SERVICES:
        assert SERVICES[service]["image"] == "secretsadmin:latest", service


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_services_share_the_production_environment(service):
    config = SERVICES[service]
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
    assert probe("proxy") == "wget -qO- http://127.0.0.1/proxy-health"
    assert "location = /proxy-health" in NGINX_CONF
    assert probe("worker") == "python manage.py rq_healthcheck worker"
    assert probe("rotation-worker") == "python manage.py rq_healthcheck worker"
    assert probe("scheduler") == "python manage.py rq_healthcheck scheduler"


def test_web_health_check_is_the_images_own():
    # deploy/healthcheck.py asks for /healthz as the first allowed host; tests/deploy/test_image.py runs it.
    test = SERVICES["web"]["healthcheck"]["test"]
    assert test == ["CMD", *IMAGE.all("HEALTHCHECK")[0].exec_form()]
    assert test[1:] == ["python", "/app/deploy/healthcheck.py"]
    assert _in_image(test[2]).is_file()


def test_migrations_run_once_before_the_app_starts():
    migrate = SERVICES["migrate"]
    assert _argv("migrate") == ["python", "manage.py", "migrate", "--noinput"]
    assert migrate["restart"] == "no"
    assert migrate["healthcheck"] == {"disable": True}  # the image's web health check means nothing here
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "migrate" not in migrate["depends_on"]
    for service in ("web", *WORKERS, "scheduler"):
        depends_on = SERVICES[service]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully"
        assert depends_on["postgres"]["condition"] == "service_healthy"
        assert depends_on["redis"]["condition"] == "service_healthy"


@pytest.mark.parametrize("service", ["web", *WORKERS, "scheduler"])
def test_replicas_never_migrate_on_start(service):
    argv = _argv(service)
    assert not any("migrate" in part for part in argv), argv
    assert Path(argv[0]).name not in ("sh", "bash"), argv  # no shell line that could hide one


@pytest.mark.parametrize("service", SCALABLE)
def test_scalable_services_have_no_fixed_name_or_host_port(service):
    assert "container_name" not in SERVICES[service]
    assert "ports" not in SERVICES[service]  # a fixed host port would let only one replica start


def test_only_the_proxy_publishes_ports():
    assert [name for name, config in SERVICES.items() if "ports" in config] == ["proxy"]
    assert SERVICES["proxy"]["ports"] == ["${PROXY_HTTP_PORT:-80}:80", "${PROXY_HTTPS_PORT:-443}:443"]
    assert re.search(r"listen 80 default_server;", NGINX_CONF)
    assert re.search(r"listen 443 ssl default_server;", NGINX_CONF)


def test_the_proxy_forwards_to_every_web_replica_as_django_expects():
    web_port = int(SERVICES["web"]["expose"][0])
    [expose] = IMAGE.all("EXPOSE")
    assert expose.arguments == str(web_port) == "8000"
    # A variable upstream is resolved again through Docker's DNS, so scaled-out replicas are found.
    assert re.search(r"resolver 127\.0\.0\.11 ", NGINX_CONF)
    assert re.search(rf"set \$web_upstream http://web:{web_port};\s+proxy_pass \$web_upstream;", NGINX_CONF)
    # settings.py trusts X-Forwarded-Proto (SECURE_PROXY_SSL_HEADER): the proxy must set it, never pass it on.
    assert "proxy_set_header X-Forwarded-Proto https;" in NGINX_CONF
    assert "proxy_set_header Host $host;" in NGINX_CONF
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in NGINX_CONF
    assert re.search(r"location = /metrics \{\s+return 404;", NGINX_CONF)
    assert SERVICES["proxy"]["depends_on"] == {"web": {"condition": "service_healthy"}}
    # Only the proxy and Prometheus can reach web (no published port), hence forwarded headers from anyone.
    assert SERVICES["web"]["environment"]["FORWARDED_ALLOW_IPS"] == "*"


def test_the_proxy_reads_its_certificate_from_mounted_secrets():
    mounted = {f"/run/secrets/{name}" for name in SERVICES["proxy"]["secrets"]}
    paths = set(re.findall(r"ssl_certificate(?:_key)? (\S+);", NGINX_CONF))
    assert paths == mounted == {"/run/secrets/tls_certificate", "/run/secrets/tls_private_key"}
    volumes = dict(volume.split(":")[1::-1] for volume in SERVICES["proxy"]["volumes"])
    assert volumes["/etc/nginx/nginx.conf"] == "./deploy/nginx/nginx.conf"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_containers_are_read_only_without_capabilities(service):
    config = SERVICES[service]
    assert config["read_only"] is True and config["tmpfs"] == ["/tmp"]
    assert config["cap_drop"] == ["ALL"] and config["security_opt"] == ["no-new-privileges:true"]


def test_redis_persists_its_data():
    command = SERVICES["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert "--save" not in command
    assert any(volume.endswith(":/data") for volume in SERVICES["redis"]["volumes"])


def test_the_management_command_lookup_can_say_no():
    assert management_command_exists("migrate")
    assert management_command_exists("rqworker")
    assert management_command_exists("collectstatic")  # django.contrib.staticfiles
    assert not management_command_exists("no_such_command")


def test_the_argv_of_a_service_follows_dockers_rules():
    assert _argv("web") == ["gunicorn", "--config", "/app/deploy/gunicorn.conf.py", "secretsadmin.wsgi:application"]
    assert _argv("scheduler") == ["python", "manage.py", "rqcron", "secretsadmin.cron"]


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_commands_refer_to_things_that_exist(service):
    argv = _argv(service)
    if argv[0] == "gunicorn":
        assert _in_image(argv[argv.index("--config") + 1]).is_file()
        module, _, attribute = argv[-1].partition(":")
        assert (BASE_DIR / (module.replace(".", "/") + ".py")).is_file()
        assert attribute == "application"
    else:
        assert argv[:2] == ["python", "manage.py"]
        assert management_command_exists(argv[2]), argv[2]
        if argv[2] == "rqcron":
            assert (BASE_DIR / (argv[3].replace(".", "/") + ".py")).is_file()
        if "--worker-class" in argv:
            module = argv[argv.index("--worker-class") + 1].rpartition(".")[0]
            assert (BASE_DIR / (module.replace(".", "/") + ".py")).is_file()


@pytest.mark.parametrize("service", [*WORKERS, "scheduler"])
def test_health_check_commands_exist(service):
    test = SERVICES[service]["healthcheck"]["test"]
    assert test[1:3] == ["python", "manage.py"]
    assert management_command_exists(test[3])


def test_the_cron_schedule_loads_and_its_queues_are_worked():
    from rq.cron import CronScheduler

    # Plain RQ's scheduler registers without touching Redis or Django settings.
    scheduler = CronScheduler(connection=None)
    scheduler.load_config_from_file(_argv("scheduler")[3])
    jobs = {job.func_name: job for job in scheduler.get_jobs()}
    job = jobs["secretsadmin.jobs.clear_expired_sessions_job"]
    assert (job.queue_name, job.cron) == ("default", "17 3 * * *")
    worked = {queue for worker in WORKERS for queue in _queues(worker)}
    assert {job.queue_name for job in jobs.values()} <= worked
    assert worked == {"default", "rotation", "sync", "reports"}


def _queues(worker):
    """The queue names a worker service's command works (the positional arguments before the first option)."""
    queues = []
    for argument in _argv(worker)[3:]:
        if argument.startswith("--"):
            break
        queues.append(argument)
    return queues


def test_rotations_run_in_a_worker_of_their_own_without_a_fork_per_job():
    assert _queues("rotation-worker") == ["rotation"]
    argv = _argv("rotation-worker")
    assert argv[argv.index("--worker-class") + 1] == "rotation.jobs.RotationWorker"
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
    assert {"/secrets/*.txt", "/secrets/*.pem"} <= set(ignore)  # relative to deploy/
    readme = (BASE_DIR / "deploy" / "secrets" / "README.md").read_text()
    assert set(COMPOSE["secrets"]) == {"secret_key", "database_url", "postgres_password", "metrics_token",
                                       "tls_certificate", "tls_private_key"}
    for name, secret in COMPOSE["secrets"].items():
        path = Path(secret["file"])
        assert path.parent.as_posix() == "deploy/secrets" and path.stem == name, name
        assert path.suffix in (".txt", ".pem") and f"`{path.name}`" in readme, name


def test_postgres_reads_its_password_from_a_secret():
    environment = SERVICES["postgres"]["environment"]
    assert environment["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert "POSTGRES_PASSWORD" not in environment


def test_prometheus_multiprocess_dir_is_private_and_set_only_where_it_is_created_and_served():
    # Any process with the variable set writes metric files there; the files are named by pid, which means
    # something only inside one container, so each has a tmpfs of its own. gunicorn (on_starting) and
    # rqworker_with_metrics create it, and each serves it on its own port.
    assert "PROMETHEUS_MULTIPROC_DIR" not in IMAGE.env()
    for name in APP_SERVICES:
        environment = SERVICES[name]["environment"]
        argv = _argv(name)
        if argv[0] == "gunicorn" or argv[2] == "rqworker_with_metrics":
            directory = Path(environment["PROMETHEUS_MULTIPROC_DIR"])
            assert any(directory.is_relative_to(tmpfs) for tmpfs in SERVICES[name]["tmpfs"]), name
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
    assert (web["names"], web["port"]) == (["web"], int(SERVICES["web"]["expose"][0]))
    [workers] = jobs["secretsadmin-workers"]["dns_sd_configs"]
    assert sorted(workers["names"]) == sorted(WORKERS)
    for worker in WORKERS:
        argv = _argv(worker)
        assert argv[2] == "rqworker_with_metrics"
        assert int(argv[argv.index("--metrics-port") + 1]) == workers["port"]
