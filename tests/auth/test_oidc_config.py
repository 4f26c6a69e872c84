"""The [oidc] table: defaults, the client secret from the environment only, and one readable line per mistake."""
import secrets

import pytest

from secretsadmin import roles
from secretsadmin.config import ConfigError, load_config
from secretsadmin.config_oidc import BACKEND_PATH, ROLE_NAMES, django_settings

BASE = """
[django]
secret_key = "${DJANGO_KEY:-development}"
allowed_hosts = ["localhost"]

[database]
url = "sqlite:///var/db.sqlite3"
"""
ENABLED = """
[oidc]
enabled = true
issuer = "https://idp.example.invalid/realms/staff"
authorization_endpoint = "https://idp.example.invalid/auth"
token_endpoint = "https://idp.example.invalid/token"
userinfo_endpoint = "https://idp.example.invalid/userinfo"
jwks_endpoint = "https://idp.example.invalid/certs"
client_id = "secretsadmin"
"""
SECRET = secrets.token_urlsafe(24)  # made per run: no secret-shaped literal in the repository
BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
CSP = {"DIRECTIVES": {"default-src": ["'self'"], "form-action": ["'self'"]}}


def settings_for(oidc):
    return django_settings(oidc, backends=list(BACKENDS), csp=CSP)


def load(tmp_path, text, environ=None, env="development"):
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / f"{env}.toml").write_text(BASE + text)
    return load_config(env, environ=environ or {}, base_dir=tmp_path)


def load_error(tmp_path, text, environ=None, env="development"):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, environ, env)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"config/{env}.toml: ")
    assert SECRET not in message
    return message


def test_single_sign_on_is_off_and_passwords_on_by_default(tmp_path):
    oidc = load(tmp_path, "").oidc
    assert (oidc["enabled"], oidc["local_login_enabled"]) == (False, True)
    values = settings_for(oidc)
    assert values["OIDC_ENABLED"] is False and values["LOCAL_LOGIN_ENABLED"] is True
    assert values["AUTHENTICATION_BACKENDS"] == BACKENDS  # no SSO backend while SSO is off
    assert values["CONTENT_SECURITY_POLICY"] == CSP


def test_an_enabled_table_becomes_the_settings_mozilla_django_oidc_reads(tmp_path):
    config = load(tmp_path, ENABLED + 'token_auth_method = "client_secret_post"\n[oidc.role_mapping]\n'
                  '"staff-admins" = ["Administrator", "Auditor"]\n"staff" = "Viewer"\n',
                  {"OIDC_RP_CLIENT_SECRET": SECRET})
    values = settings_for(config.oidc)

    assert values["OIDC_RP_CLIENT_SECRET"] == SECRET
    assert values["OIDC_ROLE_MAPPING"] == {"staff-admins": ["Auditor", "Administrator"], "staff": ["Viewer"]}
    assert values["OIDC_TOKEN_USE_BASIC_AUTH"] is False
    assert (values["OIDC_RP_SIGN_ALGO"], values["OIDC_USE_PKCE"], values["OIDC_USE_NONCE"]) == ("RS256", True, True)
    assert values["OIDC_STORE_ACCESS_TOKEN"] is values["OIDC_STORE_ID_TOKEN"] is False
    assert (values["OIDC_USERNAME_CLAIM"], values["OIDC_GROUPS_CLAIM"]) == ("preferred_username", "groups")
    assert SECRET not in repr(config)
    assert values["AUTHENTICATION_BACKENDS"] == [*BACKENDS, BACKEND_PATH]
    assert values["CONTENT_SECURITY_POLICY"] == CSP  # no end-session endpoint: sign-out stays here


def test_the_client_secret_may_come_from_a_file(tmp_path):
    secret_file = tmp_path / "oidc-secret"
    secret_file.write_text(SECRET + "\n")
    config = load(tmp_path, ENABLED, {"OIDC_RP_CLIENT_SECRET_FILE": str(secret_file)})
    assert config.oidc["client_secret"] == SECRET


def test_the_role_names_are_the_roles():
    assert ROLE_NAMES == roles.ROLE_NAMES


@pytest.mark.parametrize("text, environ, expected", [
    (ENABLED, {}, "[oidc] is enabled but OIDC_RP_CLIENT_SECRET (or OIDC_RP_CLIENT_SECRET_FILE) is not set"),
    (ENABLED + f'client_secret = "{SECRET}"\n', None, "[oidc] has unknown key client_secret"),
    (ENABLED.replace('client_id = "secretsadmin"', 'client_id = ""'), None, "[oidc] client_id is empty"),
    (ENABLED.replace('jwks_endpoint = "https://idp.example.invalid/certs"', ""), None, "[oidc] jwks_endpoint is empty"),
    (ENABLED.replace("https://idp.example.invalid/token", "ftp://idp.example.invalid/token"), None,
     "[oidc] token_endpoint must be an http(s) URL"),
    (ENABLED.replace("https://idp.example.invalid/token", "https://someone@idp.example.invalid/token"), None,
     "no user name or password"),
    (ENABLED + '[oidc.role_mapping]\n"staff" = "Superhero"\n', None, "'Superhero' (for group 'staff') is not a role"),
    (ENABLED + '[oidc.role_mapping]\n"staff" = 3\n', None, "[oidc] role_mapping entries must be"),
    (ENABLED + 'scopes = "email profile"\n', None, '[oidc] scopes must include "openid"'),
    (ENABLED + 'token_auth_method = "private_key_jwt"\n', None, "[oidc] token_auth_method must be one of"),
    (ENABLED + 'groups_claim = "groups claim"\n', None, "[oidc] groups_claim must be a claim name"),
    (ENABLED + "timeout_seconds = 0\n", None, "[oidc] timeout_seconds must be a whole number from 1 to 120"),
    ('[oidc]\nenabled = "yes"\n', None, "[oidc] enabled must be true or false"),
    ("[oidc]\nlocal_login_enabled = false\n", None, "local_login_enabled = false needs enabled = true"),
])
def test_mistakes_stop_start_up_with_one_line(tmp_path, text, environ, expected):
    environ = {"OIDC_RP_CLIENT_SECRET": SECRET} if environ is None else environ
    assert expected in load_error(tmp_path, text, environ)


def test_production_demands_https_endpoints(tmp_path):
    production = {"SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "secrets.example.invalid",
                  "REDIS_URL": "redis://redis.example.invalid:6379/0", "OIDC_RP_CLIENT_SECRET": SECRET}
    text = ENABLED.replace("https://idp.example.invalid/userinfo", "http://idp.example.invalid/userinfo")
    assert "[oidc] userinfo_endpoint must use https:// in production" in load_error(tmp_path, text, production,
                                                                                  env="production")
    # Outside production plain http is allowed: the tests' provider listens on loopback.
    assert load(tmp_path, text, {"OIDC_RP_CLIENT_SECRET": SECRET}).oidc["enabled"]


def test_an_end_session_endpoint_is_allowed_as_the_target_of_the_sign_out_form(tmp_path):
    config = load(tmp_path, ENABLED + 'end_session_endpoint = "https://idp.example.invalid:8443/logout?x=1"\n',
                  {"OIDC_RP_CLIENT_SECRET": SECRET})

    values = settings_for(config.oidc)

    assert values["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]["form-action"] == ["'self'",
                                                                              "https://idp.example.invalid:8443"]
    assert CSP["DIRECTIVES"]["form-action"] == ["'self'"]  # the policy it was given is left as it was
