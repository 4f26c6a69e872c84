"""Browser-test fixtures: Debian's Chromium driven by Playwright, real worker processes, signed-in pages, artifacts.

The rotation suite's fixtures (a local OpenBao, a policy, a synced secret) are imported to re-export them:
a conftest.py applies only below its own directory.
"""
import os
import re
import subprocess

import pytest
from django.db import connections
from playwright.sync_api import expect, sync_playwright

from tests.conftest import BASE_DIR, MANAGE, PYTHON, TEST_PASSWORD
from tests.e2e.artifacts import Artifacts
from tests.e2e.pages import authenticator_for, enter_code
from tests.rotation.conftest import kv_mount, policy, secret, vault, vault_provider, worker_env  # noqa: F401
from tests.rotation.workers import WORKER_CLASS, kill_worker

CHROMIUM = "/usr/bin/chromium"
# Quiet and offline: nothing but the live server is contacted, and no first-run or update work slows a start.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                 "--no-first-run", "--disable-component-update", "--disable-sync"]
# A loaded CI machine renders a page in more than Playwright's default 5 s; a wait that needs longer says so.
expect.set_options(timeout=15_000)
_REPORTS = pytest.StashKey[dict]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # Kept on the item, so that fixtures can tell at teardown whether the test failed.
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def _failed(item):
    return any(report.failed for report in item.stash.get(_REPORTS, {}).values())


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
def artifacts(request):
    """This test's screenshots (test-artifacts/<test>/), and the HTML of each step for secret-value checks."""
    return Artifacts(request.node.name)


@pytest.fixture
def sign_in(request, browser, live_server, artifacts):
    """sign_in("bob") -> a page of a fresh browser context (own cookies), signed in through the login form.

    Keyword arguments go to the context (e.g. timezone_id="Asia/Tokyo"). If the test fails, every open page is
    kept (screenshot and HTML) before the contexts close.
    """
    contexts = []

    def sign_in(username, **context_options):
        context = browser.new_context(base_url=live_server.url, accept_downloads=True, **context_options)
        context.set_default_timeout(15_000)
        contexts.append((username, context))
        page = context.new_page()
        page.goto("/")  # a stranger is sent to the sign-in form
        device = authenticator_for(username)  # Approvers and Administrators have a phone and are asked for it
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(TEST_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        if device is not None:
            enter_code(page, device)
        page.get_by_test_id("current-user").filter(has_text=username).wait_for()
        if device is not None:
            page.wait_for_url(re.compile(r"^(?!.*/account/two-factor/)"))  # through, not back on the code page
        return page

    yield sign_in
    if _failed(request.node):
        for username, context in contexts:
            for number, page in enumerate(context.pages, start=1):
                artifacts.keep_failure(page, f"{username}-{number}")
    for _, context in contexts:
        context.close()


@pytest.fixture
def start_worker(worker_env, tmp_path):  # noqa: F811  (requests the fixture imported above)
    """start_worker("sync", ...) -> a real `manage.py rqworker` process on the test database and Redis.

    Killed with its work-horses at the end; one that exited early fails the test with its log.
    """
    started = []

    def start(*queues, worker_class=(), env=None):
        log = tmp_path / f"worker-{'-'.join(queues)}.log"
        with log.open("wb") as output:
            worker = subprocess.Popen([PYTHON, MANAGE, "rqworker", *queues, *worker_class],
                                      env={**worker_env, **(env or {})}, cwd=BASE_DIR, stdout=output,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        started.append((worker, log))
        return worker

    yield start
    exited = [(worker, log) for worker, log in started if worker.poll() is not None]
    for worker, _ in started:
        if worker.poll() is None:
            kill_worker(worker)
    for worker, log in exited:
        # A worker that never ran the job leaves the page waiting; say why rather than only "timed out".
        pytest.fail(f"a worker exited early ({worker.returncode}): {log.read_text()[-2000:]}")


@pytest.fixture
def rotation_worker(start_worker):
    """The rotation queue's worker as deployed (jobs run in the worker process)."""
    return start_worker("rotation", worker_class=WORKER_CLASS)


@pytest.fixture
def jobs_worker(start_worker):
    """The general worker as deployed (docker-compose's "worker"): default, sync and reports queues."""
    return start_worker("default", "sync", "reports")
