"""docker-compose.yml is validated here, since no Docker engine runs on this machine."""
import importlib.util
import re
from pathlib import Path

import pytest
import yaml

BASE_DIR = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ["migrate", "web", "worker", "scheduler"]


def _command(service):
    command = SERVICES[service]["command"]
    return command if isinstance(command, list) else command.split()


def _management_command_exists(name):
    if list(BASE_DIR.glob(f"*/management/commands/{name}.py")):
        return True
    for package in ("django_rq", "django.core", "django.contrib.auth", "django.contrib.staticfiles"):
        if importlib.util.find_spec(f"{package}.management.commands.{name}") is not None:
            return True
    return False


def test_it_defines_the_production_services():
    assert set(SERVICES) == {"postgres", "redis", "migrate", "web", "worker", "scheduler", "prometheus"}


@pytest.mark.parametrize("service", [s for s in SERVICES if s != "migrate"])
def test_every_long_running_service_has_a_health_check(service):
    assert SERVICES[service]["healthcheck"]["test"]


def test_migrations_run_once_before_the_app_starts():
    assert SERVICES["migrate"]["restart"] == "no"
    for service in ("web", "worker", "scheduler"):
        assert SERVICES[service]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize("service", ["web", "worker"])
def test_scalable_services_have_no_fixed_container_name(service):
    assert "container_name" not in SERVICES[service]


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


@pytest.mark.parametrize("service", ["worker", "scheduler"])
def test_health_check_commands_exist(service):
    test = SERVICES[service]["healthcheck"]["test"]
    assert test[1:3] == ["python", "manage.py"]
    assert _management_command_exists(test[3])


def test_no_credential_literals():
    text = (BASE_DIR / "docker-compose.yml").read_text()
    for service in SERVICES.values():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET_KEY|TOKEN|DATABASE_URL", key):
                assert key.endswith("_FILE") and str(value).startswith("/run/secrets/"), key
    assert not re.search(r"postgres(ql)?://\w+:[^@\s]+@", text), "a database URL with a password"


def test_secrets_come_from_git_ignored_files_under_deploy_secrets():
    ignore = (BASE_DIR / "deploy" / ".gitignore").read_text()
    assert "/secrets/*.txt" in ignore
    for name, secret in COMPOSE["secrets"].items():
        assert secret["file"].startswith("./deploy/secrets/") and secret["file"].endswith(".txt"), name


def test_prometheus_mounts_exist_in_the_repository():
    for volume in SERVICES["prometheus"]["volumes"]:
        source = volume.split(":")[0]
        if source.startswith("./"):
            assert (BASE_DIR / source).exists(), source
    config = yaml.safe_load((BASE_DIR / "deploy/prometheus/prometheus.yml").read_text())
    assert config["scrape_configs"][0]["static_configs"][0]["targets"] == ["web:8000"]


def test_gunicorn_config_compiles():
    source = (BASE_DIR / "deploy/gunicorn.conf.py").read_text()
    compile(source, "gunicorn.conf.py", "exec")
