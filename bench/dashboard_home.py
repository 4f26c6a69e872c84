"""Median latency of the logged-in dashboard home vs. a bare HttpResponse view, over real HTTP."""
import statistics
import time

import requests

from bench._server import bench_env, gunicorn_server, manage, workdir

REQUESTS = 300
WARMUP = 30
USERNAME = "bench-viewer"
PASSWORD = "bench-only-password-7d1f"  # throwaway account in a throwaway database


def _median_ms(session, url):
    for _ in range(WARMUP):
        session.get(url, timeout=10)
    samples = []
    for _ in range(REQUESTS):
        start = time.perf_counter()
        response = session.get(url, timeout=10)
        samples.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    return statistics.median(samples)


def _login(base):
    session = requests.Session()
    page = session.get(f"{base}/accounts/login/", timeout=10)
    token = page.text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    answer = session.post(f"{base}/accounts/login/", timeout=10, allow_redirects=False,
                          data={"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": token})
    if answer.status_code != 302:
        raise SystemExit("bench: could not log in to the benchmark server")
    return session


def run():
    with workdir() as path:
        env = bench_env(path)
        manage(env, "migrate", "--noinput")
        manage(env, "shell", "-c", (
            "from django.contrib.auth.models import User, Group;"
            f"u = User.objects.create_user({USERNAME!r}, password={PASSWORD!r});"
            "u.groups.add(Group.objects.get(name='Viewer'))"
        ))
        with gunicorn_server(env) as base:
            session = _login(base)
            home = _median_ms(session, f"{base}/")
            bare = _median_ms(session, f"{base}/__bench__/bare")
    yield {"metric": "median_latency_home", "value": round(home, 3), "unit": "ms", "baseline": round(bare, 3),
           "note": f"median of {REQUESTS} sequential GETs after {WARMUP} warm-up; baseline is a bare HttpResponse"}
