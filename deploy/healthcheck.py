"""Container health check of the web server: exit 0 when GET /healthz answers 200, else 1 with one line.

Used by the Dockerfile's HEALTHCHECK and docker-compose.yml's web service. The slim image has no curl, so
it is Python, standard library only apart from the project's own configuration loader. Django answers a
Host outside ALLOWED_HOSTS with 400, so the request names the first allowed host, exactly as a client would.
"""
import http.client
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from secretsadmin.config import ConfigError, load_config  # the path above makes this importable

TIMEOUT_SECONDS = 5


def target(environ=os.environ):
    """(port, Host header) to probe: gunicorn's bind port on the loopback address, the first allowed host."""
    bind = environ.get("GUNICORN_BIND", "0.0.0.0:8000")
    port = int(bind.rpartition(":")[2])
    hosts = load_config(environ=environ).allowed_hosts
    host = hosts[0].lstrip(".") if hosts and hosts[0] != "*" else "localhost"
    return port, host


def main():
    try:
        port, host = target()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS)
        connection.request("GET", "/healthz", headers={"Host": host})
        status = connection.getresponse().status
    except (ConfigError, OSError, ValueError, http.client.HTTPException) as exc:
        print(f"unhealthy: {type(exc).__name__}: {exc}")
        return 1
    if status != 200:
        print(f"unhealthy: /healthz answered {status}")
        return 1
    print("healthy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
