"""Sign-in lockout (django-axes): per username and address, a clear 429 page, audited, counted, and it ends."""
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from audit.models import AuditEvent
from secretsadmin.config import ConfigError, load_config
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.7"


@pytest.fixture(autouse=True)
def three_strikes(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=2)


def sign_in(client, username, password, address=ATTACKER):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def lock_out(client, username="alice", address=ATTACKER):
    return [sign_in(client, username, "not-the-password", address) for _ in range(3)]


def counter(client, name):
    scrape = client.get(reverse("metrics"))
    assert scrape.status_code == 200
    return sum(sample.value for family in text_string_to_metric_families(scrape.content.decode())
               for sample in family.samples if sample.name == name)


def test_the_third_failure_locks_the_account_for_that_address_with_a_clear_page(client, role_users):
    answers = lock_out(client)
    assert [a.status_code for a in answers] == [200, 200, 429]
    page = answers[-1].content.decode()
    assert "Sign-in temporarily locked" in page and "Try again in 2 minutes" in page
    assert answers[-1]["Retry-After"] == "120"


def test_the_right_password_is_refused_while_locked(client, role_users):
    lock_out(client)
    answer = sign_in(client, "alice", TEST_PASSWORD)
    assert answer.status_code == 429 and "Sign-in temporarily locked" in answer.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("dashboard:home")).status_code == 302  # still signed out


def test_the_lockout_is_audited_once_and_counted(client, role_users):
    before = counter(client, "secretsadmin_login_lockouts_total")
    failures_before = counter(client, "secretsadmin_login_failures_total")
    lock_out(client)
    sign_in(client, "alice", TEST_PASSWORD)  # refused during the lockout: a failed sign-in, not a new lockout
    event = AuditEvent.objects.get(event_type="auth.locked_out")
    assert (event.outcome, event.actor_name, event.target_text, event.client_ip) == (
        "failure", "anonymous", "alice", ATTACKER)
    assert event.details == {"failures": 3, "cool_off_seconds": 120}
    assert AuditEvent.objects.filter(event_type="auth.login_failed", target_text="alice").count() == 4
    assert counter(client, "secretsadmin_login_lockouts_total") == before + 1
    assert counter(client, "secretsadmin_login_failures_total") == failures_before + 4
    assert "not-the-password" not in str(list(AccessAttempt.objects.values()))


def test_after_the_cool_off_the_right_password_works(client, role_users):
    lock_out(client)
    # Move the lockout two minutes into the past instead of waiting for it.
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=2, seconds=1))
    answer = sign_in(client, "alice", TEST_PASSWORD)
    assert answer.status_code == 302 and client.session["_auth_user_id"] == str(role_users["alice"].pk)


def test_other_users_and_other_addresses_are_unaffected(client, role_users):
    lock_out(client, "alice", ATTACKER)
    assert sign_in(client, "bob", TEST_PASSWORD, ATTACKER).status_code == 302
    client.post(reverse("logout"))
    assert sign_in(client, "alice", TEST_PASSWORD, "198.51.100.20").status_code == 302


def test_an_administrator_can_unlock(client, role_users):
    lock_out(client)
    call_command("axes_reset_username", "alice")
    assert sign_in(client, "alice", TEST_PASSWORD).status_code == 302



def config_with(tmp_path, extra):
    (tmp_path / "config").mkdir(parents=True)
    (tmp_path / "config" / "development.toml").write_text(
        '[django]\nsecret_key = "dev-secret"\n[database]\nurl = "sqlite:///var/db.sqlite3"\n' + extra)
    return load_config("development", environ={}, base_dir=tmp_path)


def test_the_limits_are_configurable_and_checked(tmp_path):
    assert config_with(tmp_path / "defaults", "").auth == {
        "login_failure_limit": 5, "login_cooloff_seconds": 900, "session_idle_seconds": 1800, "reauth_seconds": 300,
        "mfa_required_roles": ["Approver", "Administrator"]}
    configured = config_with(tmp_path / "set", "[auth]\nlogin_failure_limit = 8\n[requests]\nmax_body_bytes = 65536\n")
    assert configured.auth["login_failure_limit"] == 8 and configured.requests == {"max_body_bytes": 65536}
    with pytest.raises(ConfigError, match=r"\[auth\] has unknown key login_failures; allowed keys: login_"):
        config_with(tmp_path / "typo", "[auth]\nlogin_failures = 3\n")
    with pytest.raises(ConfigError, match=r"\[auth\] login_failure_limit must be a whole number >= 1"):
        config_with(tmp_path / "zero", "[auth]\nlogin_failure_limit = 0\n")
