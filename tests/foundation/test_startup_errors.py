"""Start-up refuses unsafe or broken configuration with one readable line, and passes check --deploy."""
import secrets
import subprocess

from tests.conftest import BASE_DIR, MANAGE, PYTHON

PRODUCTION_ENV = {
    "PATH": "/usr/bin:/bin",
    "SECRETSADMIN_ENV": "production",
    "DATABASE_URL": "postgres://secretsadmin@db.example.invalid:5432/secretsadmin",
    "REDIS_URL": "redis://redis.example.invalid:6379/0",
    "ALLOWED_HOSTS": "secrets.example.invalid",
}


def _manage(*args, env):
    return subprocess.run([PYTHON, MANAGE, *args], env=env, cwd=BASE_DIR, capture_output=True, text=True, timeout=120)


def test_production_settings_pass_check_deploy_with_required_env():
    env = {**PRODUCTION_ENV, "SECRET_KEY": secrets.token_urlsafe(50)}
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_debug_in_one_line():
    env = {**PRODUCTION_ENV, "SECRET_KEY": secrets.token_urlsafe(50), "DEBUG": "true"}
    result = _manage("check", env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "DEBUG" in result.stderr


def test_missing_secret_key_names_the_variable_in_one_line():
    result = _manage("check", env=PRODUCTION_ENV)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "SECRET_KEY" in result.stderr


def test_unreadable_secret_file_names_variable_and_path(tmp_path):
    missing = tmp_path / "no-such-secret"
    env = {**PRODUCTION_ENV, "SECRET_KEY_FILE": str(missing)}
    result = _manage("check", env=env)
    assert result.returncode == 2
    assert "SECRET_KEY_FILE" in result.stderr and str(missing) in result.stderr
    assert "Traceback" not in result.stderr


def test_secret_key_file_is_read(tmp_path):
    key_file = tmp_path / "secret_key"
    key_file.write_text(secrets.token_urlsafe(50) + "\n")
    env = {**PRODUCTION_ENV, "SECRET_KEY_FILE": str(key_file)}
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stderr
