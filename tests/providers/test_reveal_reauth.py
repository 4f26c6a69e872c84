"""Re-authentication before a reveal: the password again once the last sign-in is older than REAUTH_SECONDS."""
import pytest
from guardian.shortcuts import assign_perm

from audit.models import AuditEvent
from tests.conftest import TEST_PASSWORD
from tests.providers.test_reveal import stored, url  # noqa: F401  (stored is a fixture)

pytestmark = pytest.mark.django_db
REASON = "INC-4800 verifying the credential"


@pytest.fixture
def alice(client, role_users, stored, settings):  # noqa: F811
    settings.REAUTH_SECONDS = 0  # every reveal asks: the sign-in is never recent enough
    assign_perm("providers.reveal_secret", role_users["alice"], stored[0])
    client.force_login(role_users["alice"])
    return client


def test_the_form_asks_for_the_password(alice, stored):  # noqa: F811
    page = alice.get(url(stored[0])).content.decode()
    assert 'name="password"' in page and "Confirm it is you" in page


def test_without_the_password_nothing_is_revealed(alice, stored):  # noqa: F811
    secret, value = stored
    answer = alice.post(url(secret), {"reason": REASON})
    assert answer.status_code == 403 and value not in answer.content.decode()
    assert "Enter your current password" in answer.content.decode()
    assert not AuditEvent.objects.filter(event_type__startswith="secret.").exists()


def test_a_wrong_password_is_refused_and_audited(alice, stored):  # noqa: F811
    secret, value = stored
    answer = alice.post(url(secret), {"reason": REASON, "password": "not-her-password"})
    assert answer.status_code == 403 and value not in answer.content.decode()
    refused = AuditEvent.objects.get(event_type="secret.retrieval")
    assert (refused.outcome, refused.failure_reason) == ("failure", "re-authentication failed")
    assert AuditEvent.objects.filter(event_type="auth.login_failed", target_text="alice").count() == 1
    assert not AuditEvent.objects.filter(event_type="secret.revealed").exists()


def test_the_right_password_reveals(alice, stored):  # noqa: F811
    secret, value = stored
    answer = alice.post(url(secret), {"reason": REASON, "password": TEST_PASSWORD})
    assert answer.status_code == 200 and value in answer.content.decode()
    assert AuditEvent.objects.filter(event_type="secret.revealed", actor_name="alice").count() == 1


def test_wrong_passwords_on_the_reveal_form_lock_the_account(alice, stored, settings):  # noqa: F811
    settings.AXES_FAILURE_LIMIT = 2
    secret, value = stored
    answers = [alice.post(url(secret), {"reason": REASON, "password": "guess"}) for _ in range(2)]
    assert [a.status_code for a in answers] == [403, 429]
    locked = alice.post(url(secret), {"reason": REASON, "password": TEST_PASSWORD})
    assert locked.status_code == 429 and value not in locked.content.decode()
    assert AuditEvent.objects.filter(event_type="auth.locked_out", target_text="alice").count() == 1


def test_a_recent_sign_in_is_enough(client, role_users, stored, settings):  # noqa: F811
    settings.REAUTH_SECONDS = 300
    secret, value = stored
    assign_perm("providers.reveal_secret", role_users["alice"], secret)
    client.force_login(role_users["alice"])
    assert 'name="password"' not in client.get(url(secret)).content.decode()
    answer = client.post(url(secret), {"reason": REASON})
    assert answer.status_code == 200 and value in answer.content.decode()
