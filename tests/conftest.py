"""Fixtures shared by every suite: one user per role (alice..erin), a stranger, and subprocess settings."""
import importlib
import os
import shutil
import sys
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import Group

from secretsadmin import roles
from secretsadmin.process_group import free_port  # noqa: F401  (tests import it from here)

BASE_DIR = Path(__file__).resolve().parent.parent
ROLE_USERS = {
    "alice": roles.VIEWER,
    "bob": roles.OPERATOR,
    "charlie": roles.APPROVER,
    "dana": roles.AUDITOR,
    "erin": roles.ADMINISTRATOR,
}
TEST_PASSWORD = "test-only-password-0f9c1e"  # an obvious fixture, never a real credential


@pytest.fixture(scope="session", autouse=True)
def metrics_directory():
    """This run's prometheus_client multiprocess directory (tests/settings.py), removed at the end."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def clean_rq_keys():
    """Start each run with empty queues (only RQ's keys: REDIS_URL may be shared)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter("rq:*"))
    if keys:
        client.delete(*keys)
    yield


def make_user(username, role=None, *, is_staff=False):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username, f"{username}@example.invalid", TEST_PASSWORD)
    if role:
        user.groups.add(Group.objects.get(name=role))
    if is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return user


@pytest.fixture
def role_users(db):
    """alice Viewer, bob Operator, charlie Approver, dana Auditor, erin Administrator (staff)."""
    return {name: make_user(name, role, is_staff=role == roles.ADMINISTRATOR) for name, role in ROLE_USERS.items()}


@pytest.fixture
def mallory(db):
    """A signed-up account with no role and no grant."""
    return make_user("mallory")


@pytest.fixture(autouse=True)
def force_login_skips_the_second_factor(request, monkeypatch):
    """force_login() means "skip the sign-in ceremony": it skips the second factor too.

    After Django's own force_login the session is marked verified with a confirmed TOTP device of that user
    (made on demand), as if the code had been entered. Tests of the second factor itself opt out with
    @pytest.mark.real_mfa and go through the real pages.
    """
    if request.node.get_closest_marker("real_mfa"):
        return
    from django.test import Client

    signed_in = Client.force_login

    def force_login(self, user, backend=None):
        signed_in(self, user, backend)
        mark_second_factor_verified(self, user)

    monkeypatch.setattr(Client, "force_login", force_login)


def mark_second_factor_verified(client, user):
    """Mark the test client's session as verified with `user`'s TOTP device (created if they have none)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="test fixture", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device


@pytest.fixture
def client_for(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def database_url_for_subprocess():
    """The URL of the test database as it is now, for worker/demo processes a test starts."""
    from django.db import connection

    params = connection.settings_dict
    if params["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{params['NAME']}"
    user = params.get("USER") or ""
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{params.get('HOST') or '127.0.0.1'}:{params.get('PORT') or 5432}/{params['NAME']}"


@pytest.fixture
def subprocess_env(transactional_db):
    env = dict(os.environ)
    env.update(
        SECRETSADMIN_ENV="test",
        DATABASE_URL=database_url_for_subprocess(),
        REDIS_URL=settings.REDIS_URL,
        PYTHONPATH=str(BASE_DIR),
        DJANGO_SETTINGS_MODULE="secretsadmin.settings",
    )
    return env


PYTHON = sys.executable
MANAGE = str(BASE_DIR / "manage.py")


@pytest.fixture(scope="session")
def provider_servers(tmp_path_factory):
    """Start each kind's real local server on first use (tests/providers/fixtures_<kind>.py); stop them at the end."""
    started = {}

    def get(kind):
        if kind not in started:
            module = importlib.import_module(f"tests.providers.fixtures_{kind}")
            started[kind] = module.start(tmp_path_factory.mktemp(kind))
        return started[kind]

    yield get
    for under_test in started.values():
        under_test.stop()
