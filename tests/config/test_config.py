"""The TOML configuration loader: interpolation, *_FILE secrets, overrides, validation and providers."""
import json
import secrets
from pathlib import Path

import pytest

from secretsadmin.config import DEV_SECRET_KEY, PROVIDER_KINDS, ConfigError, ProviderSpec, load_config, read_env

REPO_ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = secrets.token_urlsafe(48)  # 64 characters, generated per run: no key-shaped literal in the repository
BASE = """
[django]
secret_key = "dev-secret"
allowed_hosts = ["localhost"]

[database]
url = "sqlite:///var/db.sqlite3"
"""
PRODUCTION_ENVIRON = {
    "SECRET_KEY": STRONG_KEY,
    "DATABASE_URL": "postgres://app@db.example.invalid/app",
    "REDIS_URL": "redis://redis.example.invalid:6379/0",
    "ALLOWED_HOSTS": "secrets.example.invalid",
}
PRODUCTION = """
[django]
secret_key = "${SECRET_KEY}"

[database]
url = "${DATABASE_URL}"

[redis]
url = "${REDIS_URL}"
"""


def write_config(base_dir, text, env="development"):
    (base_dir / "config").mkdir(exist_ok=True)
    (base_dir / "config" / f"{env}.toml").write_text(text)
    return base_dir


def load(tmp_path, text, env="development", environ=None):
    return load_config(env, environ=environ or {}, base_dir=write_config(tmp_path, text, env))


def load_error(tmp_path, text, env="development", environ=None):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, env, environ)
    message = str(caught.value)
    assert "\n" not in message
    return message


# Interpolation and *_FILE


def test_it_interpolates_environment_variables(tmp_path):
    config = load(tmp_path, BASE + '[extras]\nsink = "${AUDIT_SINK}"\ntags = ["a-${TAG}"]', environ={
        "AUDIT_SINK": "syslog", "TAG": "blue"
    })
    assert config.data["extras"] == {"sink": "syslog", "tags": ["a-blue"]}


def test_it_uses_default_after_colon_dash(tmp_path):
    config = load(tmp_path, BASE + '[extras]\nsink = "${AUDIT_SINK:-file}"\nempty = "${NOPE:-}"')
    assert config.data["extras"] == {"sink": "file", "empty": ""}


def test_set_variable_wins_over_default(tmp_path):
    config = load(tmp_path, BASE + '[extras]\nsink = "${AUDIT_SINK:-file}"', environ={"AUDIT_SINK": "syslog"})
    assert config.data["extras"]["sink"] == "syslog"


def test_it_keeps_escaped_dollar_brace(tmp_path):
    config = load(tmp_path, BASE + '[extras]\ntemplate = "cost $5, $${HOME} stays"')
    assert config.data["extras"]["template"] == "cost $5, ${HOME} stays"


def test_malformed_reference_is_an_error(tmp_path):
    message = load_error(tmp_path, BASE + '[extras]\nsink = "${AUDIT SINK}"')
    assert "[extras] sink" in message and "malformed" in message


def test_missing_variable_names_variable_and_key(tmp_path):
    message = load_error(tmp_path, BASE.replace('"dev-secret"', '"${SECRET_KEY}"'))
    assert message == (
        "config/development.toml: [django] secret_key needs environment variable SECRET_KEY "
        "(or SECRET_KEY_FILE), which is not set"
    )


def test_missing_variable_in_provider_array_names_position(tmp_path):
    text = BASE + '[[providers]]\nname = "v"\nkind = "vault"\naddress = "http://v:8200"\ntoken = "${VAULT_TOKEN}"'
    assert "[providers #1] token needs environment variable VAULT_TOKEN" in load_error(tmp_path, text)


def test_file_variant_reads_file_and_strips_newline(tmp_path):
    secret_file = tmp_path / "key"
    secret_file.write_text("from-a-file\n\n")
    config = load(tmp_path, BASE.replace('"dev-secret"', '"${SECRET_KEY}"'),
                  environ={"SECRET_KEY_FILE": str(secret_file)})
    assert config.secret_key == "from-a-file\n"  # only one trailing newline goes


def test_read_env_prefers_nothing_when_neither_is_set():
    assert read_env("SECRET_KEY", {}) is None
    assert read_env("SECRET_KEY", {"SECRET_KEY": ""}) == ""


def test_both_plain_and_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="set SECRET_KEY or SECRET_KEY_FILE, not both"):
        read_env("SECRET_KEY", {"SECRET_KEY": "a", "SECRET_KEY_FILE": str(tmp_path / "k")})


def test_unreadable_file_names_variable_and_path(tmp_path):
    missing = tmp_path / "no-such-secret"
    message = load_error(tmp_path, BASE, environ={"DATABASE_URL_FILE": str(missing)})
    assert "DATABASE_URL_FILE" in message and str(missing) in message


# Environment overrides


def test_env_overrides_win_over_file(tmp_path):
    config = load(tmp_path, BASE + '[redis]\nurl = "redis://file:6379/0"', environ={
        "SECRET_KEY": "from-env",
        "DATABASE_URL": "postgres://app@db.invalid/app",
        "REDIS_URL": "redis://env:6379/1",
        "ALLOWED_HOSTS": " a.example, ,b.example,",
        "CSRF_TRUSTED_ORIGINS": "https://a.example",
        "DEBUG": "On",
    })
    assert config.secret_key == "from-env"
    assert config.database_url == "postgres://app@db.invalid/app"
    assert config.redis_url == "redis://env:6379/1"
    assert config.allowed_hosts == ["a.example", "b.example"]
    assert config.csrf_trusted_origins == ["https://a.example"]
    assert config.debug is True


def test_empty_redis_url_override_means_embedded(tmp_path):
    config = load(tmp_path, BASE + '[redis]\nurl = "redis://file:6379/0"', environ={"REDIS_URL": ""})
    assert config.redis_url is None


def test_debug_override_rejects_garbage(tmp_path):
    message = load_error(tmp_path, BASE, environ={"DEBUG": "maybe"})
    assert message.startswith("DEBUG must be one of") and "maybe" not in message


def test_env_defaults_to_secretsadmin_env_variable(tmp_path):
    write_config(tmp_path, BASE, env="staging")
    config = load_config(environ={"SECRETSADMIN_ENV": "staging"}, base_dir=tmp_path)
    assert config.env == "staging" and config.path == tmp_path / "config" / "staging.toml"


# Django settings: types and production safety


def test_wrong_type_names_table_key_and_file(tmp_path):
    message = load_error(tmp_path, BASE.replace("[django]", '[django]\ndebug = "yes"'))
    assert message == "config/development.toml: [django] debug must be true or false"


def test_allowed_hosts_must_be_list_of_strings(tmp_path):
    message = load_error(tmp_path, BASE.replace('["localhost"]', '["localhost", 8000]'))
    assert "[django] allowed_hosts must be a list of strings" in message


def test_unknown_key_in_known_table_rejected(tmp_path):
    message = load_error(tmp_path, BASE + "[security]\nsecure_cookie = true")
    assert "[security] has unknown key secure_cookie" in message and "secure_cookies" in message


def test_security_defaults_depend_on_env(tmp_path):
    development = load(tmp_path, BASE).security
    production = load(tmp_path, PRODUCTION, "production", PRODUCTION_ENVIRON).security
    assert development == {"secure_cookies": False, "hsts_seconds": 0, "session_cookie_age": 28800}
    assert production["secure_cookies"] is True and production["hsts_seconds"] == 31536000


def test_empty_secret_key_rejected_in_any_env(tmp_path):
    assert "secret key is empty" in load_error(tmp_path, BASE, environ={"SECRET_KEY": ""})


def test_production_accepts_safe_settings(tmp_path):
    config = load(tmp_path, PRODUCTION, "production", PRODUCTION_ENVIRON)
    assert (config.debug, config.allowed_hosts, config.redis_url) == (
        False, ["secrets.example.invalid"], "redis://redis.example.invalid:6379/0")


def test_production_refuses_debug(tmp_path):
    message = load_error(tmp_path, PRODUCTION, "production", {**PRODUCTION_ENVIRON, "DEBUG": "true"})
    assert "DEBUG must be off in production" in message


def test_production_refuses_dev_secret_key(tmp_path):
    message = load_error(tmp_path, PRODUCTION, "production", {**PRODUCTION_ENVIRON, "SECRET_KEY": DEV_SECRET_KEY})
    assert "development secret key cannot be used in production" in message


def test_production_refuses_short_secret_key(tmp_path):
    short = load_error(tmp_path, PRODUCTION, "production", {**PRODUCTION_ENVIRON, "SECRET_KEY": STRONG_KEY[:49]})
    repetitive = load_error(tmp_path, PRODUCTION, "production", {**PRODUCTION_ENVIRON, "SECRET_KEY": "abcd" * 20})
    assert "SECRET_KEY is too weak" in short and "SECRET_KEY is too weak" in repetitive


def test_production_requires_redis_url(tmp_path):
    message = load_error(tmp_path, PRODUCTION, "production", {**PRODUCTION_ENVIRON, "REDIS_URL": ""})
    assert "production needs REDIS_URL" in message


def test_development_allows_embedded_redis(tmp_path):
    assert load(tmp_path, BASE + '[redis]\nurl = ""').redis_url is None


def test_production_refuses_wildcard_hosts(tmp_path):
    wildcard = load_error(tmp_path, PRODUCTION, "production", {**PRODUCTION_ENVIRON, "ALLOWED_HOSTS": "a.invalid,*"})
    empty = load_error(tmp_path, PRODUCTION, "production", {**PRODUCTION_ENVIRON, "ALLOWED_HOSTS": " , "})
    assert "ALLOWED_HOSTS" in wildcard and "ALLOWED_HOSTS" in empty


def test_unknown_env_lists_available(tmp_path):
    write_config(tmp_path, BASE, "development")
    write_config(tmp_path, BASE, "test")
    for env in ("staging", "../etc/passwd"):
        with pytest.raises(ConfigError) as caught:
            load_config(env, environ={}, base_dir=tmp_path)
        assert "available: development, test" in str(caught.value) and repr(env) in str(caught.value)


def test_malformed_toml_names_file_and_line(tmp_path):
    message = load_error(tmp_path, '[django]\nsecret_key = "k"\n[redis\n')
    assert message.startswith("config/development.toml: invalid TOML") and "line 3" in message


# Database URL


def test_relative_sqlite_url_resolved_against_base_dir(tmp_path):
    config = load(tmp_path, BASE)
    assert config.database_url == f"sqlite:///{tmp_path}/var/db.sqlite3"
    assert config.database_url.startswith("sqlite:////")


def test_absolute_sqlite_and_postgres_urls_kept(tmp_path):
    assert load(tmp_path, BASE, environ={"DATABASE_URL": "sqlite:////srv/db.sqlite3"}).database_url == (
        "sqlite:////srv/db.sqlite3")
    assert load(tmp_path, BASE, environ={"DATABASE_URL": "postgresql://u@h/d"}).database_url == "postgresql://u@h/d"


def test_unsupported_database_scheme_named_without_value(tmp_path):
    message = load_error(tmp_path, BASE, environ={"DATABASE_URL": "mysql://root:pw-123@db/app"})
    assert "scheme mysql" in message and "pw-123" not in message


# Providers


POLICY_EXAMPLE = """
[secrets]
provider = "vault"
address = "http://localhost:8200"
token = "${VAULT_TOKEN}"
"""


def test_secrets_table_parses_like_policy_example(tmp_path):
    config = load(tmp_path, BASE + POLICY_EXAMPLE, environ={"VAULT_TOKEN": "hvs.example"})
    assert config.providers == [ProviderSpec(
        name="vault",
        kind="vault",
        enabled=True,
        description="",
        settings={"address": "http://localhost:8200", "mount": "secret", "auth_method": "token"},
        credentials={"token": "hvs.example"},
        source="config/development.toml",
    )]


def test_providers_array_parses_each_kind(tmp_path):
    text = BASE + """
[[providers]]
name = "aws-prod"
kind = "aws"
region = "us-east-1"
endpoint_url = "http://localhost:4566"

[[providers]]
name = "vault-approle"
kind = "vault"
address = "https://vault.example.invalid"
auth_method = "approle"
role_id = "role"
secret_id = "sid"
enabled = false

[[providers]]
name = "azure-kv"
kind = "azure"
vault_url = "https://kv.vault.azure.net"
credential = "client_secret"
tenant_id = "t"
client_id = "c"
client_secret = "cs"
description = "Key Vault"

[[providers]]
name = "gcp-main"
kind = "gcp"
project_id = "proj"
"""
    aws, vault, azure, gcp = load(tmp_path, text).providers
    assert [spec.kind for spec in (aws, vault, azure, gcp)] == list(PROVIDER_KINDS)
    assert aws.settings == {"region": "us-east-1", "endpoint_url": "http://localhost:4566"} and aws.credentials == {}
    assert vault.enabled is False and vault.credentials == {"secret_id": "sid"}
    assert vault.settings["role_id"] == "role" and vault.settings["mount"] == "secret"
    assert azure.credentials == {"client_secret": "cs"} and azure.description == "Key Vault"
    assert gcp.settings == {"project_id": "proj"}


def test_both_forms_combine_with_secrets_table_first(tmp_path):
    text = BASE + POLICY_EXAMPLE + '[[providers]]\nname = "aws-prod"\nkind = "aws"\nregion = "eu-west-1"'
    names = [spec.name for spec in load(tmp_path, text, environ={"VAULT_TOKEN": "t"}).providers]
    assert names == ["vault", "aws-prod"]


def test_duplicate_provider_names_rejected(tmp_path):
    text = BASE + POLICY_EXAMPLE + '[[providers]]\nname = "vault"\nkind = "aws"\nregion = "eu-west-1"'
    message = load_error(tmp_path, text, environ={"VAULT_TOKEN": "t"})
    assert 'provider name "vault" is used by both [secrets] and [[providers]] #1' in message


def test_unknown_provider_key_rejected(tmp_path):
    message = load_error(tmp_path, BASE + '[[providers]]\nname = "aws-prod"\nkind = "aws"\nregion = "x"\nzone = "a"')
    assert '"aws-prod"' in message and "unknown key zone" in message
    assert ("allowed keys: access_key_id, credentials_profile, description, enabled, endpoint_url, kind, name, "
            "region, secret_access_key") in message


def test_unknown_kind_rejected(tmp_path):
    message = load_error(tmp_path, BASE + '[[providers]]\nname = "k"\nkind = "keepass"')
    assert "[[providers]] #1: kind is not a known kind; use one of aws, vault, azure, gcp" in message


def test_missing_required_provider_key_rejected(tmp_path):
    message = load_error(tmp_path, BASE + '[[providers]]\nname = "gcp-main"\nkind = "gcp"')
    assert '"gcp-main": project_id is required' in message


def test_bad_provider_name_rejected(tmp_path):
    message = load_error(tmp_path, BASE + '[[providers]]\nname = "AWS Prod"\nkind = "aws"\nregion = "x"')
    assert "[[providers]] #1: name (required) must be lower-case letters" in message


def test_provider_urls_must_be_http(tmp_path):
    vault = load_error(tmp_path, BASE + '[secrets]\nprovider = "vault"\naddress = "localhost:8200"')
    azure = load_error(tmp_path, BASE + '[secrets]\nprovider = "azure"\nvault_url = "http://kv.example"')
    assert "address must be an http or https:// URL" in vault and "vault_url must be an https:// URL" in azure


@pytest.mark.parametrize("mount", ["../sys", "secret/../../sys", "%2e%2e/sys", "..%2fsys", "a b", "kv?x", "kv\\x",
                                   "kv//x", "kv\u0007"])
def test_a_vault_mount_or_namespace_that_leaves_its_path_is_rejected(tmp_path, mount):
    # HTTP clients resolve dot segments: "../sys" would send the provider's requests outside the mount.
    for key in ("mount", "namespace"):
        text = BASE + f'[secrets]\nprovider = "vault"\naddress = "http://localhost:8200"\n{key} = {json.dumps(mount)}'
        assert f"{key} must be a path like team/kv" in load_error(tmp_path, text)
    fine = load(tmp_path, BASE + '[secrets]\nprovider = "vault"\naddress = "http://localhost:8200"\n'
                                 'mount = "team-a/kv/"\nnamespace = "admin/team_a"')
    assert fine.providers[0].settings["mount"] == "team-a/kv/"


def test_provider_repr_hides_credentials(tmp_path):
    config = load(tmp_path, BASE + POLICY_EXAMPLE, environ={"VAULT_TOKEN": "hvs.visible-nowhere"})
    assert "hvs.visible-nowhere" not in repr(config.providers[0])
    assert "hvs.visible-nowhere" not in repr(config) and "dev-secret" not in repr(config)


def test_errors_never_contain_secret_values(tmp_path):
    planted = "PLANTED-SECRET-7f3a9c"
    cases = [
        # (document, env, environ): each plants the secret next to a deliberately bad value.
        (BASE.replace('"dev-secret"', f'"{planted}"\ndebug = "yes"'), "development", {}),
        (PRODUCTION, "production", {**PRODUCTION_ENVIRON, "SECRET_KEY": planted}),
        (PRODUCTION, "production", {**PRODUCTION_ENVIRON, "SECRET_KEY": f"django-insecure-{planted}" * 3}),
        (BASE, "development", {"DATABASE_URL": f"mysql://root:{planted}@db/app"}),
        (BASE, "development", {"DATABASE_URL": f"sqlite://{planted}"}),
        (BASE, "development", {"DATABASE_URL": planted}),
        (BASE, "development", {"REDIS_URL": f"http://:{planted}@redis/0"}),
        (BASE + f'[secrets]\nprovider = "vault"\naddress = "ftp://v"\ntoken = "{planted}"', "development", {}),
        (BASE + f'[secrets]\nprovider = "vault"\naddress = "http://v"\ntoken = "{planted}"\nextra = 1',
         "development", {}),
        (BASE + f'[secrets]\nprovider = "vault"\naddress = "http://v:{planted}@v"\nauth_method = "approle"\n'
         f'secret_id = "{planted}"', "development", {}),
        (BASE + f'[secrets]\nprovider = "azure"\nvault_url = "http://kv"\nclient_secret = "{planted}"',
         "development", {}),
        (BASE + f'[secrets]\nprovider = "azure"\nvault_url = "https://kv"\ncredential = "{planted}"',
         "development", {}),
        (BASE + '[secrets]\nprovider = "vault"\naddress = "http://v"\ntoken = "${VAULT_TOKEN}"',
         "development", {"VAULT_TOKEN": planted, "VAULT_TOKEN_FILE": "/x"}),
    ]
    for document, env, environ in cases:
        message = load_error(tmp_path, document, env, environ)
        assert planted not in message, message


# The files this repository ships


def test_shipped_config_files_load():
    development = load_config("development", environ={}, base_dir=REPO_ROOT)
    test = load_config("test", environ={}, base_dir=REPO_ROOT)
    assert development.debug is True and development.secret_key == DEV_SECRET_KEY
    assert development.redis_url is None and development.database_url == f"sqlite:///{REPO_ROOT}/var/db.sqlite3"
    assert test.debug is False and "testserver" in test.allowed_hosts and test.secret_key == DEV_SECRET_KEY
    assert test.database_url == f"sqlite:///{REPO_ROOT}/var/test.sqlite3"

    environ = {
        "SECRET_KEY": secrets.token_urlsafe(48)[:64],
        "DATABASE_URL": "postgres://app@db.example.invalid:5432/app",
        "REDIS_URL": "redis://redis.example.invalid:6379/0",
        "ALLOWED_HOSTS": "secrets.example.invalid",
    }
    assert len(environ["SECRET_KEY"]) == 64
    production = load_config("production", environ=environ, base_dir=REPO_ROOT)
    assert production.debug is False and production.allowed_hosts == ["secrets.example.invalid"]
    assert production.security["secure_cookies"] is True and production.security["hsts_seconds"] == 31536000
    assert production.database_url == environ["DATABASE_URL"] and production.redis_url == environ["REDIS_URL"]

    without_key = {name: value for name, value in environ.items() if name != "SECRET_KEY"}
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config("production", environ=without_key, base_dir=REPO_ROOT)


def test_audit_section_defaults_depend_on_env(tmp_path):
    development = load(tmp_path, BASE).audit
    production = load(tmp_path, PRODUCTION, "production", PRODUCTION_ENVIRON).audit
    assert development["storages"] == ["database", "log"] and development["fail_closed"] is False
    assert production["fail_closed"] is True
    assert development["jsonl_path"] == str(tmp_path / "var/audit.jsonl")


def test_audit_primary_storage_must_keep_a_chain(tmp_path):
    message = load_error(tmp_path, BASE + '[audit]\nstorages = ["log", "database"]')
    assert "primary" in message
    message = load_error(tmp_path, BASE + '[audit]\nstorages = ["database", "syslog"]')
    assert "[audit] storages" in message


# Secret key rotation: SECRET_KEY_FALLBACKS


def test_secret_key_fallbacks_are_parsed_from_commas_and_newlines(tmp_path):
    old, older = secrets.token_urlsafe(48), secrets.token_urlsafe(48)
    config = load(tmp_path, PRODUCTION, "production",
                  {**PRODUCTION_ENVIRON, "SECRET_KEY_FALLBACKS": f" {old} ,\n{older}\n,"})
    assert config.secret_key_fallbacks == [old, older]
    assert old not in repr(config)
    assert load(tmp_path, PRODUCTION, "production", PRODUCTION_ENVIRON).secret_key_fallbacks == []


def test_secret_key_fallbacks_file_form(tmp_path):
    old, older = secrets.token_urlsafe(48), secrets.token_urlsafe(48)
    fallbacks_file = tmp_path / "fallbacks"
    fallbacks_file.write_text(f"{old}\n{older}\n")
    config = load(tmp_path, PRODUCTION, "production",
                  {**PRODUCTION_ENVIRON, "SECRET_KEY_FALLBACKS_FILE": str(fallbacks_file)})
    assert config.secret_key_fallbacks == [old, older]
    message = load_error(tmp_path, BASE, environ={"SECRET_KEY_FALLBACKS": old,
                                                  "SECRET_KEY_FALLBACKS_FILE": str(fallbacks_file)})
    assert "set SECRET_KEY_FALLBACKS or SECRET_KEY_FALLBACKS_FILE, not both" in message and old not in message


def test_weak_fallback_is_refused_in_production_without_its_value(tmp_path):
    weak = secrets.token_urlsafe(24)  # 32 characters: below Django's 50
    for fallback in (weak, f"django-insecure-{weak}{weak}", "abcd" * 20):
        environ = {**PRODUCTION_ENVIRON, "SECRET_KEY_FALLBACKS": f"{secrets.token_urlsafe(48)},{fallback}"}
        message = load_error(tmp_path, PRODUCTION, "production", environ)
        assert message.startswith("config/production.toml: SECRET_KEY_FALLBACKS entry #2"), message
        assert fallback not in message and weak not in message and STRONG_KEY not in message
    # Outside production a short fallback is accepted, as a short key is.
    assert load(tmp_path, BASE, environ={"SECRET_KEY_FALLBACKS": weak}).secret_key_fallbacks == [weak]


def test_fallback_equal_to_the_current_key_is_refused(tmp_path):
    environ = {**PRODUCTION_ENVIRON, "SECRET_KEY_FALLBACKS": STRONG_KEY}
    message = load_error(tmp_path, PRODUCTION, "production", environ)
    assert "SECRET_KEY_FALLBACKS entry #1 is the current secret key" in message and STRONG_KEY not in message


def test_rotating_the_key_keeps_signed_values_and_sessions_valid(tmp_path):
    """The old key moves to SECRET_KEY_FALLBACKS: what it signed still validates, and new values use the new key."""
    from django.contrib.sessions.backends.signed_cookies import SessionStore
    from django.core import signing
    from django.test import override_settings

    old_key, new_key = secrets.token_urlsafe(48), secrets.token_urlsafe(48)
    config = load(tmp_path, PRODUCTION, "production",
                  {**PRODUCTION_ENVIRON, "SECRET_KEY": new_key, "SECRET_KEY_FALLBACKS": old_key})
    with override_settings(SECRET_KEY=old_key, SECRET_KEY_FALLBACKS=[]):
        token = signing.dumps({"user": 7}, salt="rotation-test")
        session = SessionStore()
        session["user"] = 7
        session.save()
        cookie = session.session_key
    with override_settings(SECRET_KEY=config.secret_key, SECRET_KEY_FALLBACKS=config.secret_key_fallbacks):
        assert signing.loads(token, salt="rotation-test") == {"user": 7}
        assert SessionStore(session_key=cookie)["user"] == 7
        assert signing.dumps({"user": 7}, salt="rotation-test") != token  # new signatures use the new key
    with override_settings(SECRET_KEY=new_key, SECRET_KEY_FALLBACKS=[]):
        with pytest.raises(signing.BadSignature):
            signing.loads(token, salt="rotation-test")
        assert SessionStore(session_key=cookie).get("user") is None  # without the fallback it is signed out


@pytest.mark.django_db
def test_a_signed_in_user_stays_signed_in_across_a_key_rotation(client, role_users):
    """Database sessions carry an HMAC of the password hash keyed by SECRET_KEY; the fallback keeps it valid."""
    from django.test import override_settings
    from django.urls import reverse

    old_key, new_key = secrets.token_urlsafe(48), secrets.token_urlsafe(48)
    dashboard = reverse("dashboard:home")
    with override_settings(SECRET_KEY=old_key, SECRET_KEY_FALLBACKS=[]):
        client.force_login(role_users["alice"])
        assert client.get(dashboard).status_code == 200
    with override_settings(SECRET_KEY=new_key, SECRET_KEY_FALLBACKS=[old_key]):
        assert client.get(dashboard).status_code == 200
    with override_settings(SECRET_KEY=secrets.token_urlsafe(48), SECRET_KEY_FALLBACKS=[]):
        assert client.get(dashboard).status_code == 302  # an unknown key: signed out, sent to the login page


def test_prepared_statements_are_on_unless_the_database_table_turns_them_off(tmp_path):
    assert load(tmp_path, BASE).prepared_statements is True
    assert load(tmp_path, BASE + "prepared_statements = false\n").prepared_statements is False
    message = load_error(tmp_path, BASE + 'prepared_statements = "no"\n')
    assert "[database] prepared_statements" in message
