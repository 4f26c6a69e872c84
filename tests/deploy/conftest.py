"""The image without an engine: the build context copied as the Dockerfile copies it, its build steps run, and
its entrypoint started on loopback with the production settings, as the container would run them."""
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings

from secretsadmin.process_group import free_port
from tests.deploy.dockerfile import BASE_DIR, build_context, stages

VENV_BIN = str(Path(sys.executable).parent)  # plays the image's /opt/venv/bin
HOST = "localhost"  # the allowed host; trustme certificates name it too


def image_environment(root):
    """The final stage's ENV, with the virtualenv of this run standing in for /opt/venv."""
    path = f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin"
    environment = {"PATH": path, "HOME": str(root.parent), "LANG": "C.UTF-8"}
    for name, value in stages()[-1].env().items():
        environment[name] = value.replace("/opt/venv/bin", VENV_BIN).replace("$PATH", "/usr/local/bin:/usr/bin:/bin")
    return environment


@pytest.fixture(scope="session")
def image_tree(tmp_path_factory):
    """/app of the image: the build context, then the final stage's build step (collectstatic, compileall)."""
    root = tmp_path_factory.mktemp("image") / "app"
    for relative in build_context():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(BASE_DIR / relative, root / relative)
    [step] = [i for i in stages()[-1].all("RUN") if "collectstatic" in i.arguments]
    result = subprocess.run(["sh", "-c", step.arguments], cwd=root, env=image_environment(root),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return root


class Served:
    """The image's entrypoint and command (gunicorn) running from `image_tree` on a loopback port."""

    def __init__(self, root, workdir):
        self.root, self.workdir = root, workdir
        self.port = free_port()
        self.metrics = workdir / "prometheus-multiproc"
        self.metrics.mkdir()
        (self.metrics / "counter_4242.db").write_bytes(b"left by an earlier container")
        secret_key = workdir / "secret_key"
        secret_key.write_text(secrets.token_urlsafe(50) + "\n")
        database_url = workdir / "database_url"
        database_url.write_text(os.environ.get("DATABASE_URL") or f"sqlite:///{workdir / 'db.sqlite3'}")
        self.metrics_token = secrets.token_urlsafe(24)
        metrics_token = workdir / "metrics_token"
        metrics_token.write_text(self.metrics_token + "\n")
        self.environment = {
            **image_environment(root),
            # As docker-compose.yml and the Kubernetes manifests pass them: secrets as files.
            "SECRET_KEY_FILE": str(secret_key),
            "DATABASE_URL_FILE": str(database_url),
            "METRICS_TOKEN_FILE": str(metrics_token),
            "REDIS_URL": settings.REDIS_URL,
            "ALLOWED_HOSTS": HOST,
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "GUNICORN_WORKERS": "2",
            "FORWARDED_ALLOW_IPS": "127.0.0.1",
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics),
        }
        self.process = None

    def argv(self):
        final = stages()[-1]
        argv = final.all("ENTRYPOINT")[0].exec_form() + final.all("CMD")[0].exec_form()
        return [part.replace("/app/", f"{self.root}/") for part in argv]

    def start(self):
        self.log = (self.workdir / "gunicorn.log").open("w")
        self.process = subprocess.Popen(self.argv(), cwd=self.root, env=self.environment, stdout=self.log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        try:
            while True:
                assert self.process.poll() is None, (self.workdir / "gunicorn.log").read_text()
                try:
                    # The first request of a worker imports Django and the app: give it time.
                    requests.get(f"http://127.0.0.1:{self.port}/healthz", headers={"Host": HOST}, timeout=20)
                    return self
                except (requests.ConnectionError, requests.Timeout):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        except BaseException:
            self.stop()  # never leave a server behind a failed start
            raise

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(40)
        self.log.close()

    def healthcheck(self, **overrides):
        """The image's HEALTHCHECK command, run as the container would run it (with `overrides` in its environment)."""
        [healthcheck] = stages()[-1].all("HEALTHCHECK")
        argv = [part.replace("/app/", f"{self.root}/") for part in healthcheck.exec_form()]
        return subprocess.run(argv, cwd=self.root, env={**self.environment, **overrides}, capture_output=True,
                              text=True, timeout=30)

    def get(self, path, **headers):
        return requests.get(f"http://127.0.0.1:{self.port}{path}", headers={"Host": HOST, **headers}, timeout=10,
                            allow_redirects=False)


@pytest.fixture(scope="module")
def served(image_tree, tmp_path_factory):
    server = Served(image_tree, tmp_path_factory.mktemp("served")).start()
    yield server
    server.stop()
