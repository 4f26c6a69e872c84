"""Headers and cookies a security team expects from the dashboard itself."""
import pytest
from django.urls import reverse

from tests.conftest import TEST_PASSWORD


@pytest.mark.django_db
def test_pages_carry_a_strict_content_security_policy(client):
    response = client.get(reverse("login"))
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp


@pytest.mark.django_db
def test_pages_refuse_framing_sniffing_and_referrer_leaks(client):
    response = client.get(reverse("login"))
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.django_db
def test_session_cookie_is_httponly_and_same_site(client, role_users):
    response = client.post(reverse("login"), {"username": "alice", "password": TEST_PASSWORD})
    assert response.status_code == 302
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


@pytest.mark.django_db
def test_wrong_password_shows_a_form_error_not_a_crash(client, role_users):
    response = client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


@pytest.mark.django_db
def test_logout_is_post_only_and_ends_the_session(client, role_users):
    client.force_login(role_users["alice"])
    assert client.get(reverse("logout")).status_code == 405
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("dashboard:home")).status_code == 302


@pytest.mark.django_db
def test_templates_render_untrusted_text_escaped(client, role_users):
    from providers.models import Provider, Secret

    provider = Provider.objects.create(kind="vault", name="vault-dev")
    Secret.objects.create(provider=provider, name="<script>alert(1)</script>#key", owner="<b>team</b>")
    client.force_login(role_users["alice"])
    body = client.get(reverse("providers:secret_list")).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;#key" in body
    assert "&lt;b&gt;team&lt;/b&gt;" in body


def test_password_validators_demand_strong_passwords():
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    for weak in ("short", "password1234", "123456789012"):
        with pytest.raises(ValidationError):
            validate_password(weak)
    validate_password("correct-horse-battery-staple-42")
