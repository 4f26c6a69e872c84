"""The image's build step and entrypoint, run without an engine: collectstatic with the throwaway settings,
then gunicorn with the production settings, secrets as files, answering its own health check."""
import json
import re

from tests.deploy.conftest import HOST


def test_the_build_step_collects_hashed_compressed_static_files(image_tree):
    manifest = json.loads((image_tree / "staticfiles" / "staticfiles.json").read_text())
    hashed = manifest["paths"]["css/app.css"]
    assert re.fullmatch(r"css/app\.[0-9a-f]{12}\.css", hashed)
    assert (image_tree / "staticfiles" / (hashed + ".gz")).is_file()
    # The code is compiled at build time (the root filesystem is read-only in Kubernetes).
    assert list((image_tree / "secretsadmin" / "__pycache__").glob("settings.cpython-311.pyc"))


def test_the_throwaway_build_settings_leave_no_trace(image_tree):
    for path in image_tree.rglob("*"):
        if path.is_file() and path.suffix not in (".pyc", ".gz", ".br", ".png", ".woff", ".woff2"):
            assert "build.invalid" not in path.read_text(errors="ignore"), path
    assert not (image_tree / "var").exists()  # no runtime state made at build time


def test_the_entrypoint_serves_the_production_app_and_static_files(served):
    assert served.get("/healthz").json() == {"status": "ok"}
    assert served.get("/readyz", **{"X-Forwarded-Proto": "https"}).json()["status"] == "ok"
    manifest = json.loads((served.root / "staticfiles" / "staticfiles.json").read_text())
    answer = served.get("/static/" + manifest["paths"]["css/app.css"], **{"X-Forwarded-Proto": "https",
                                                                          "Accept-Encoding": "gzip"})
    assert answer.status_code == 200
    assert answer.headers["Content-Encoding"] == "gzip"
    assert "immutable" in answer.headers["Cache-Control"]
    # Production: plain HTTP without the proxy's header is sent to HTTPS, and other hosts are refused.
    assert served.get("/").status_code == 301
    assert served.get("/healthz", Host="attacker.example").status_code == 400


def test_prometheus_scrapes_a_replica_by_its_address_over_plain_http(served):
    # Prometheus names a replica by its pod IP or container name: not an allowed host, and no TLS inside.
    pod = {"Host": "10.42.0.7:8000"}
    scraped = served.get("/metrics", **pod, Authorization=f"Bearer {served.metrics_token}")
    assert scraped.status_code == 200, scraped.text
    # This server's database has no tables: the scrape still answers, and says the posture gauges are missing.
    assert "secretsadmin_posture_up 0.0" in scraped.text
    assert "secretsadmin_rq_workers" in scraped.text
    assert served.get("/metrics", **pod).status_code == 401  # still the token (or an allowed address)
    assert served.get("/metrics", **pod, Authorization="Bearer not-the-token").status_code == 401
    assert served.get("/metrics/", **pod).status_code == 400  # only that one path skips host validation


def test_gunicorn_cleared_the_metric_files_of_an_earlier_run(served):
    assert not (served.metrics / "counter_4242.db").exists()


def test_the_health_check_passes_while_serving_and_fails_once_stopped(image_tree, tmp_path):
    from tests.deploy.conftest import Served

    server = Served(image_tree, tmp_path).start()
    try:
        result = server.healthcheck()
        assert (result.returncode, result.stdout.strip()) == (0, "healthy"), result.stderr
    finally:
        server.stop()
    result = server.healthcheck()
    assert result.returncode == 1
    assert result.stdout.startswith("unhealthy: ConnectionRefusedError")


def test_the_health_check_fails_on_an_answer_other_than_200(served):
    # The check asks as its own first allowed host; a server that refuses that host (400) is not healthy.
    result = served.healthcheck(ALLOWED_HOSTS=f"elsewhere.example,{HOST}")
    assert (result.returncode, result.stdout.strip()) == (1, "unhealthy: /healthz answered 400")
    # And a configuration that cannot load is reported in one line, without a traceback.
    result = served.healthcheck(SECRET_KEY_FILE=str(served.workdir / "missing"))
    assert result.returncode == 1 and result.stdout.startswith("unhealthy: ConfigError: ")
    assert "SECRET_KEY_FILE points at" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
