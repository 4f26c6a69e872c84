"""Who must pass the second factor before anything else: the configured roles, superusers, enrolled users."""
import pytest
from django.contrib.auth import get_user_model
from django.urls import Resolver404, resolve, reverse

from secretsadmin import roles
from secretsadmin.config import ConfigError
from secretsadmin.config_security import ROLE_NAMES
from secretsadmin.mfa.middleware import ALLOWED_VIEWS
from tests.foundation.test_login_required import ALL_URLS
from tests.foundation.test_login_throttling import config_with

pytestmark = [pytest.mark.django_db, pytest.mark.real_mfa]
SETUP = reverse("mfa:setup")


def _resolves(path):
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


BLOCKED = [(name, path) for name, path in ALL_URLS if name not in ALLOWED_VIEWS and _resolves(path)]


def test_a_required_role_reaches_nothing_but_the_second_factor_pages_until_verified(client, role_users):
    client.force_login(role_users["erin"])  # Administrator: signed in with the password, no second factor yet
    for name, path in BLOCKED:
        answer = client.get(path)
        assert answer.status_code == 302, f"{name} {path}: {answer.status_code}"
        assert answer["Location"].startswith(f"{SETUP}?next="), f"{name} {path}: {answer['Location']}"
        posted = client.post(path, {"reason": "anything"})
        assert posted.status_code == 303 and posted["Location"].startswith(SETUP), f"{name} {path}"
    assert len(BLOCKED) > 60 and ("dashboard:home", "/") in BLOCKED and ("admin:index", "/admin/") in BLOCKED


def test_the_pages_needed_before_verification_still_work(client, role_users):
    client.force_login(role_users["charlie"])
    assert client.get(SETUP).status_code == 200
    assert client.get(reverse("mfa:verify"))["Location"].startswith(SETUP)  # nothing to verify with yet
    assert client.get(reverse("healthz")).status_code == 200
    assert client.get("/static/css/app.css").status_code == 200
    assert client.get(reverse("metrics")).status_code == 200  # its own guard: open to this machine in tests
    assert client.post(reverse("logout")).status_code == 302
    assert "_auth_user_id" not in client.session


def test_a_return_address_is_kept_for_pages_and_forms(client, role_users):
    client.force_login(role_users["charlie"])
    page = client.get("/inventory/?q=db")
    assert page["Location"] == f"{SETUP}?next=%2Finventory%2F%3Fq%3Ddb"
    posted = client.post("/rotations/approvals/", HTTP_REFERER="http://testserver/rotations/?state=open")
    assert posted["Location"] == f"{SETUP}?next=%2Frotations%2F%3Fstate%3Dopen"
    elsewhere = client.post("/rotations/approvals/", HTTP_REFERER="https://evil.example/")
    assert elsewhere["Location"] == f"{SETUP}?next=%2F"
    htmx = client.get("/rotations/", HTTP_HX_REQUEST="true")
    assert htmx.status_code == 204 and htmx["HX-Redirect"].startswith(SETUP)


def test_other_roles_browse_without_a_second_factor(client, role_users):
    for name in ("alice", "bob", "dana"):
        client.force_login(role_users[name])
        assert client.get(reverse("dashboard:home")).status_code == 200, name
        assert client.get(reverse("providers:secret_list")).status_code == 200, name
        assert "Two-factor authentication" in client.get(reverse("mfa:account")).content.decode()


def test_superusers_always_need_it(client, db):
    root = get_user_model().objects.create_superuser("root", "root@example.invalid", "irrelevant-here-1")
    client.force_login(root)
    assert client.get(reverse("dashboard:home"))["Location"].startswith(SETUP)


def test_the_required_roles_are_configurable(client, role_users, settings):
    settings.MFA_REQUIRED_ROLES = ["Auditor"]
    client.force_login(role_users["charlie"])
    assert client.get(reverse("rotation:approval_queue")).status_code == 200
    client.force_login(role_users["dana"])
    assert client.get(reverse("audit:event_list"))["Location"].startswith(SETUP)


def test_the_roles_setting_is_parsed_and_checked(tmp_path):
    assert config_with(tmp_path / "defaults", "").auth["mfa_required_roles"] == ["Approver", "Administrator"]
    chosen = config_with(tmp_path / "set", '[auth]\nmfa_required_roles = ["Administrator", "Operator"]\n')
    assert chosen.auth["mfa_required_roles"] == ["Operator", "Administrator"]
    assert config_with(tmp_path / "none", "[auth]\nmfa_required_roles = []\n").auth["mfa_required_roles"] == []
    with pytest.raises(ConfigError, match=r"\[auth\] mfa_required_roles: unknown role 'Approvers'; roles are Viewer"):
        config_with(tmp_path / "typo", '[auth]\nmfa_required_roles = ["Approvers"]\n')
    with pytest.raises(ConfigError, match=r"\[auth\] mfa_required_roles must be a list of role names"):
        config_with(tmp_path / "text", '[auth]\nmfa_required_roles = "Approver"\n')


def test_the_config_knows_the_same_roles_as_the_application():
    assert ROLE_NAMES == roles.ROLE_NAMES
