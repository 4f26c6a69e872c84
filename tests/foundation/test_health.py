"""/healthz and /readyz: public, short answers, and the failing component named when Redis is down."""
import subprocess
import time

import pytest
import redis

from secretsadmin.embedded_redis import redis_server_binary
from tests.conftest import free_port


@pytest.fixture
def disposable_redis(tmp_path):
    """A real redis-server of this test's own, so the test can stop it."""
    port = free_port()
    server = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.02)
    yield server, f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(5)


def test_healthz_answers_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_is_ok_when_database_and_redis_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.django_db
def test_readyz_names_redis_when_it_goes_down(client, settings, disposable_redis):
    server, url = disposable_redis
    settings.REDIS_URL = url
    assert client.get("/readyz").status_code == 200
    server.terminate()
    server.wait(5)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "failing": ["redis"]}
    assert b"Traceback" not in response.content and b"Error" not in response.content


@pytest.mark.django_db
def test_readyz_names_the_database_when_it_fails(client, monkeypatch):
    from secretsadmin import health

    def broken():
        raise RuntimeError("password=should-not-leak")

    monkeypatch.setitem(health.READINESS_CHECKS, "database", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["database"]
    assert b"should-not-leak" not in response.content


def test_health_endpoints_refuse_writes(client):
    assert client.post("/healthz").status_code == 405
