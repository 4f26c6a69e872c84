"""`manage.py demo` (what `make demo` runs): serves, logs each role in, and leaves nothing behind."""
import os
import re
import signal
import socket
import sqlite3
import subprocess
import time

import psutil
import pytest
import requests

from tests.conftest import BASE_DIR, MANAGE, PYTHON, free_port
from tests.foundation.mfa_helpers import code_for, key_from_page, recovery_codes_on

# What each demo account may open (200) and what it must be refused (403).
EXPECTED = {
    "viewer": {"/inventory/": 200, "/providers/": 200, "/rotations/": 200, "/audit/": 403, "/compliance/": 403},
    "operator": {"/inventory/": 200, "/rotations/": 200, "/audit/": 403, "/compliance/": 403},
    "approver": {"/inventory/": 200, "/rotations/": 200, "/audit/": 403, "/compliance/": 403},
    "auditor": {"/inventory/": 200, "/audit/": 200, "/compliance/": 200, "/admin/": 302},
    "admin": {"/inventory/": 200, "/audit/": 200, "/providers/": 200, "/admin/": 200},
}


def _read_banner(process, deadline):
    """Collect stdout lines until the banner's last line; returns the demo passwords."""
    passwords = {}
    for line in process.stdout:
        match = re.match(r"^\s+(viewer|operator|approver|auditor|admin)\s+\w+\s+(\S+)$", line)
        if match:
            passwords[match.group(1)] = match.group(2)
        if "Press Ctrl-C" in line or time.monotonic() > deadline:
            break
    return passwords


def _wait_ready(base, deadline):
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                return True
        except requests.ConnectionError:
            pass
        time.sleep(0.25)
    return False


def _csrf(page):
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def _login(base, username, password, authenticators):
    """Sign in as a person would. The approver and the admin are then asked for a second factor: the first time
    they set up an authenticator from the page (its key kept in `authenticators`), later they enter its code."""
    session = requests.Session()
    page = session.get(f"{base}/accounts/login/", timeout=10)
    answer = session.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": _csrf(page)},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, f"{username} could not log in"
    first = session.get(f"{base}/", timeout=10)
    if "/account/two-factor/setup/" in first.url:
        key = key_from_page(first.text)
        code, step = code_for(key)
        shown = session.post(first.url, data={"code": code, "csrfmiddlewaretoken": _csrf(first)}, timeout=10)
        assert len(recovery_codes_on(shown.text)) == 10, f"{username}: no recovery codes after the set-up"
        authenticators[username] = (key, step)
    elif "/account/two-factor/verify/" in first.url:
        key, step = authenticators[username]
        code, step = code_for(key, after_step=step)
        verified = session.post(first.url, data={"code": code, "csrfmiddlewaretoken": _csrf(first)}, timeout=10)
        assert "/account/" not in verified.url, f"{username}: the code was refused"
        authenticators[username] = (key, step)
    return session


def demo_env(tmp_path):
    """A fresh clone's demo: SQLite and its own embedded Redis, whatever the test run itself uses."""
    env = {**os.environ, "SECRETSADMIN_ENV": "development", "DATABASE_URL": f"sqlite:///{tmp_path}/demo.sqlite3",
           "SECRETSADMIN_VAR_DIR": str(tmp_path / "var")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("REDIS_URL", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the demo's own, under its var directory
    return env


def _wait_rotation_succeeded(database, deadline):
    while time.monotonic() < deadline:
        with sqlite3.connect(database, timeout=10) as connection:
            states = [row[0] for row in connection.execute("SELECT state FROM rotation_rotationrequest")]
        if "succeeded" in states:
            return True
        time.sleep(0.5)
    raise AssertionError(f"no demo rotation succeeded; states: {states}")


@pytest.fixture
def demo(tmp_path):
    port = free_port()
    # A session of its own, so the test can press "Ctrl-C" on the whole group as a terminal does.
    process = subprocess.Popen(
        [PYTHON, MANAGE, "demo", "--port", str(port)], cwd=BASE_DIR, env=demo_env(tmp_path),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    yield process, f"http://127.0.0.1:{port}"
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.slow
def test_demo_serves_every_role_and_stops_cleanly_on_ctrl_c(demo, tmp_path):
    process, base = demo
    deadline = time.monotonic() + 60
    passwords = _read_banner(process, deadline)
    assert set(passwords) == set(EXPECTED), "the banner must print one password per demo account"
    assert _wait_ready(base, deadline), "/readyz did not answer 200 within 60 s"
    assert "Sign in" in requests.get(f"{base}/accounts/login/", timeout=10).text

    authenticators = {}
    for username, pages in EXPECTED.items():
        session = _login(base, username, passwords[username], authenticators)
        for path, status in pages.items():
            got = session.get(f"{base}{path}", allow_redirects=False, timeout=10).status_code
            assert got == status, f"{username} {path}: {got}, expected {status}"

    # The seeded local providers are registered and answer through their adapters.
    # The approver and the administrator had to set up two-factor sign-in; the others did not.
    assert set(authenticators) == {"approver", "admin"}
    admin = _login(base, "admin", passwords["admin"], authenticators)
    listing = admin.get(f"{base}/providers/", timeout=10).text
    assert "demo-vault" in listing and "demo-aws" in listing
    for uuid in re.findall(r'href="/providers/([0-9a-f-]{36})/"', listing):
        page = admin.get(f"{base}/providers/{uuid}/", timeout=10).text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        tested = admin.post(f"{base}/providers/{uuid}/test/", data={"csrfmiddlewaretoken": token},
                            headers={"Referer": f"{base}/providers/{uuid}/"}, timeout=30).text
        assert "Connection test of demo-" in tested and "alert-success" in tested, tested[:2000]

    # A new user sees a rotation happen: the overdue demo secret under an auto-approving policy.
    due = subprocess.run([PYTHON, MANAGE, "rotate_due_secrets"], cwd=BASE_DIR, env=demo_env(tmp_path),
                         capture_output=True, text=True, timeout=60)
    assert due.returncode == 0 and "apps/payments/database#password" in due.stdout, due.stdout + due.stderr
    assert _wait_rotation_succeeded(tmp_path / "demo.sqlite3", time.monotonic() + 60)

    children = psutil.Process(process.pid).children(recursive=True)
    names = " ".join(" ".join(child.cmdline()) for child in children)
    for expected in ("rqworker", "rqcron", "runserver", "redis-server", "bao", "moto_server"):
        assert expected in names, names
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
    assert process.wait(30) == 0
    gone, alive = psutil.wait_procs(children, timeout=15)
    assert alive == [], f"left running after Ctrl-C: {[p.pid for p in alive]}"


@pytest.mark.slow
def test_demo_refuses_a_busy_port_in_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [PYTHON, MANAGE, "demo", "--port", str(port)], cwd=BASE_DIR, env=demo_env(tmp_path),
            capture_output=True, text=True, timeout=120,
        )
    assert result.returncode != 0
    assert f"port {port}" in result.stderr and "Traceback" not in result.stderr
