"""Browser-test fixtures: Debian's Chromium driven by Playwright, a real rotation worker, signed-in pages.

The rotation suite's fixtures (a local OpenBao, a policy, a synced secret) are imported to re-export them:
a conftest.py applies only below its own directory.
"""
import os
import subprocess

import pytest
from django.db import connections
from playwright.sync_api import expect, sync_playwright

from tests.conftest import BASE_DIR, MANAGE, PYTHON, TEST_PASSWORD
from tests.rotation.conftest import kv_mount, policy, secret, vault, vault_provider, worker_env  # noqa: F401
from tests.rotation.workers import WORKER_CLASS, kill_worker

CHROMIUM = "/usr/bin/chromium"
# Quiet and offline: nothing but the live server is contacted, and no first-run or update work slows a start.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                 "--no-first-run", "--disable-component-update", "--disable-sync"]
# A loaded CI machine renders a page in more than Playwright's default 5 s; a wait that needs longer says so.
expect.set_options(timeout=15_000)


@pytest.fixture
def browser(monkeypatch):
    if not os.access(CHROMIUM, os.X_OK):
        # Fail, never skip: a journey nobody ran must not look like a journey that passed.
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), "
                    "never a browser Playwright downloads")
    # Playwright's sync API keeps an asyncio loop marked running in this thread, which Django takes for async
    # code and refuses the test's (synchronous) ORM calls. Allowed for these tests only, hence function scope.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
        # While that loop runs, Django keeps this thread's connections apart (per context): close them before
        # it stops, or they stay open and PostgreSQL refuses to drop the test database at the end.
        connections.close_all()


@pytest.fixture
def sign_in(browser, live_server):
    """sign_in("bob") -> a page of a fresh browser context (own cookies), signed in through the login form."""
    contexts = []

    def sign_in(username):
        context = browser.new_context(base_url=live_server.url)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.goto("/")  # a stranger is sent to the sign-in form
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(TEST_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_test_id("current-user").filter(has_text=username).wait_for()
        return page

    yield sign_in
    for context in contexts:
        context.close()


@pytest.fixture
def rotation_worker(worker_env, tmp_path):  # noqa: F811  (requests the fixture imported above)
    """A real `manage.py rqworker rotation` process on the test database; killed with its work-horse at the end."""
    log = tmp_path / "rotation-worker.log"
    with log.open("wb") as output:
        worker = subprocess.Popen([PYTHON, MANAGE, "rqworker", "rotation", *WORKER_CLASS], env=worker_env, cwd=BASE_DIR,
                                  stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    yield worker
    if worker.poll() is not None:
        # A worker that never ran the job leaves the page waiting; say why rather than only "timed out".
        pytest.fail(f"the rotation worker exited early ({worker.returncode}): {log.read_text()[-2000:]}")
    kill_worker(worker)
