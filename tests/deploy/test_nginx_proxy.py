"""deploy/nginx/nginx.conf, docker-compose.yml's TLS proxy: `nginx -t` accepts it, and a real nginx in front of
the image's gunicorn terminates TLS, redirects plain HTTP, hides /metrics and tells Django the request was HTTPS.

nginx is Debian's package (.ci/run installs it); the tests fail, not skip, without it. Only what cannot exist
outside Compose is changed: the ports (loopback, free), the upstream (`web` -> gunicorn's loopback address) and
the secret files' directory.
"""
import functools
import os
import re
import shutil
import subprocess
import time

import pytest
import requests
import trustme

from secretsadmin.process_group import free_port
from tests.deploy.conftest import HOST
from tests.deploy.dockerfile import BASE_DIR

NGINX_CONF = BASE_DIR / "deploy" / "nginx" / "nginx.conf"


def nginx_binary():
    path = shutil.which("nginx") or "/usr/sbin/nginx"
    assert os.path.exists(path), "nginx is missing: apt-get install nginx (.ci/run does)"
    return path


def adapted_config(directory, upstream_port, http_port, https_port):
    text = NGINX_CONF.read_text()
    replacements = [
        ("listen 80 default_server;", f"listen 127.0.0.1:{http_port} default_server;"),
        ("listen 443 ssl default_server;", f"listen 127.0.0.1:{https_port} ssl default_server;"),
        ("http://web:8000", f"http://127.0.0.1:{upstream_port}"),
        ("/run/secrets/", f"{directory}/"),
    ]
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    path = directory / "nginx.conf"
    path.write_text(text)
    return path


def certificate(directory):
    authority = trustme.CA()
    issued = authority.issue_cert(HOST)
    issued.cert_chain_pems[0].write_to_path(str(directory / "tls_certificate"))
    issued.private_key_pem.write_to_path(str(directory / "tls_private_key"))
    bundle = directory / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    return bundle


def nginx(directory, config, *arguments):
    globals_ = f"pid {directory}/nginx.pid; error_log stderr;"
    return [nginx_binary(), "-p", f"{directory}/", "-c", str(config), "-g", globals_, *arguments]


def test_nginx_accepts_the_configuration(tmp_path):
    certificate(tmp_path)
    config = adapted_config(tmp_path, free_port(), free_port(), free_port())
    result = subprocess.run(nginx(tmp_path, config, "-t"), capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr


def test_nginx_can_refuse_a_configuration(tmp_path):
    certificate(tmp_path)
    config = adapted_config(tmp_path, free_port(), free_port(), free_port())
    config.write_text(config.read_text().replace("proxy_pass $web_upstream;", "proxy_pass $web_upstream"))
    result = subprocess.run(nginx(tmp_path, config, "-t"), capture_output=True, text=True, timeout=30)
    assert result.returncode != 0


@pytest.fixture(scope="module")
def proxy(served, tmp_path_factory):
    directory = tmp_path_factory.mktemp("proxy")
    bundle = certificate(directory)
    http_port, https_port = free_port(), free_port()
    config = adapted_config(directory, served.port, http_port, https_port)
    log = (directory / "nginx.log").open("w")
    process = subprocess.Popen(nginx(directory, config, "-g", "daemon off;"), stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    try:
        while True:
            assert process.poll() is None, (directory / "nginx.log").read_text()
            try:
                requests.get(f"http://127.0.0.1:{http_port}/proxy-health", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "nginx did not answer"
                time.sleep(0.05)
    except BaseException:
        process.terminate()  # never leave nginx behind a failed start
        process.wait(30)
        raise
    session = requests.Session()
    # Per request, not session.verify: REQUESTS_CA_BUNDLE in the environment would override the session's.
    session.request = functools.partial(session.request, verify=str(bundle))
    yield {"http": f"http://{HOST}:{http_port}", "https": f"https://{HOST}:{https_port}", "session": session}
    process.terminate()
    process.wait(30)
    log.close()


def test_plain_http_is_redirected_to_https_and_the_proxy_reports_its_health(proxy):
    answer = requests.get(proxy["http"] + "/audit/?page=2", allow_redirects=False, timeout=10)
    assert answer.status_code == 301
    assert answer.headers["Location"] == f"https://{HOST}/audit/?page=2"
    health = requests.get(proxy["http"] + "/proxy-health", timeout=10)
    assert (health.status_code, health.text) == (200, "ok\n")


def test_requests_reach_gunicorn_over_tls_as_https(proxy):
    session = proxy["session"]
    assert session.get(proxy["https"] + "/healthz", timeout=10).json() == {"status": "ok"}
    # Django saw HTTPS (X-Forwarded-Proto) and the client's Host: the home page sends an anonymous visitor to
    # sign in rather than to https:// (which it would do for a plain-HTTP request).
    home = session.get(proxy["https"] + "/", allow_redirects=False, timeout=10)
    assert home.status_code == 302 and "login" in home.headers["Location"], home.headers
    login = session.get(proxy["https"] + home.headers["Location"], timeout=10)
    assert login.status_code == 200
    assert "__Host-csrftoken" in login.cookies  # the Secure cookies of production, so a TLS origin
    assert re.fullmatch(r"[0-9a-f]{32}", login.headers["X-Request-ID"])  # nginx's id, accepted by the app
    assert login.headers["Server"] == "nginx"  # no version: server_tokens off


def test_metrics_are_never_served_through_the_proxy(proxy, served):
    answer = proxy["session"].get(proxy["https"] + "/metrics", headers={"Authorization": "Bearer anything"},
                                  timeout=10)
    assert answer.status_code == 404
