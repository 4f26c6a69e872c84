"""Rotation targets against real parts: the machine's PostgreSQL and a local HTTP receiver in a thread."""
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from rotation.targets import TargetConfigError, TargetContext, TargetError, target_for, validate_target_config
from rotation.targets.none import NoTarget
from rotation.targets.postgresql import PostgresRoleTarget, verifier_matches
from rotation.targets.webhook import WebhookTarget, sign
from secretsadmin.process_group import free_port

PG_URL = os.environ.get("TARGET_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ADMIN_ENV = "SA_TEST_TARGET_PG_ADMIN_PASSWORD"
HMAC_ENV = "SA_TEST_TARGET_WEBHOOK_HMAC"


def make_context():
    return TargetContext(request_id=str(uuid.uuid4()), secret_name="app/db#password", provider="demo-vault",
                         new_version="v2")


def new_password():
    return secrets.token_urlsafe(24)


# --- PostgreSQL ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg():
    conn = psycopg.connect(PG_URL, autocommit=True)
    yield conn
    conn.close()


@pytest.fixture
def make_role(pg):
    """Throwaway login roles (random names and passwords), dropped afterwards; returns (name, password)."""
    created = []

    def make(suffix="", options=None):
        name, password = f"sa_target_{secrets.token_hex(4)}{suffix}", new_password()
        pg.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} {}").format(
            sql.Identifier(name), sql.Literal(password), options or sql.SQL("")))
        created.append(name)
        return name, password

    yield make
    for name in reversed(created):
        pg.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture
def pg_config(monkeypatch):
    """A validated target config for a role, administered by TARGET_PG_URL's user unless told otherwise."""
    admin = conninfo_to_dict(PG_URL)

    def config(role, *, admin_user=None, admin_password=None, **overrides):
        raw = {"kind": "postgresql", "host": admin.get("host", "127.0.0.1"), "port": int(admin.get("port", 5432)),
               "dbname": admin.get("dbname", "postgres"), "role": role, "admin_user": admin_user or admin["user"],
               "connect_timeout": 2}
        password = admin_password if admin_user else admin.get("password")
        if password:
            monkeypatch.setenv(ADMIN_ENV, password)
            raw["admin_password_env"] = ADMIN_ENV
        return validate_target_config({**raw, **overrides})

    return config


def stored_verifier(pg, role):
    return pg.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", [role]).fetchone()[0]


def server_checks_passwords(role):
    """Whether pg_hba.conf makes this role prove its password (False under trust: any password logs in)."""
    params = {**conninfo_to_dict(PG_URL), "user": role, "password": new_password()}
    try:
        psycopg.connect(**params).close()
    except psycopg.OperationalError:
        return True
    return False


def test_apply_sets_the_password_and_is_applied_follows(pg, make_role, pg_config):
    role, old = make_role()
    target = target_for(pg_config(role))
    new = new_password()
    assert not target.is_applied(new, make_context())
    assert target.is_applied(old, make_context())

    target.apply(new, make_context())

    stored = stored_verifier(pg, role)
    assert stored.startswith("SCRAM-SHA-256$4096:")
    assert new not in stored
    assert verifier_matches(stored, new, role) is True
    assert verifier_matches(stored, old, role) is False
    assert target.is_applied(new, make_context())
    assert not target.is_applied(old, make_context())
    target.verify(new, make_context())


def test_apply_twice_is_harmless(pg, make_role, pg_config):
    role, _ = make_role()
    target = target_for(pg_config(role))
    new = new_password()
    target.apply(new, make_context())
    target.apply(new, make_context())
    target.verify(new, make_context())


def test_verify_fails_for_a_wrong_value_without_revealing_it(make_role, pg_config):
    role, _ = make_role()
    target = target_for(pg_config(role))
    new, wrong = new_password(), new_password()
    target.apply(new, make_context())

    with pytest.raises(TargetError) as raised:
        target.verify(wrong, make_context())

    assert not raised.value.transient
    assert "does not accept the new password" in str(raised.value)
    assert wrong not in str(raised.value) and new not in str(raised.value)


def test_role_names_with_quotes_are_quoted_as_identifiers(pg, make_role, pg_config):
    bystander, bystander_password = make_role()
    role, _ = make_role(suffix=f"\"; ALTER ROLE {bystander} NOLOGIN; --'")
    target = target_for(pg_config(role))
    new = new_password()

    target.apply(new, make_context())

    target.verify(new, make_context())
    assert verifier_matches(stored_verifier(pg, role), new, role)
    assert verifier_matches(stored_verifier(pg, bystander), bystander_password, bystander)
    assert pg.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", [bystander]).fetchone()[0]


def test_non_ascii_values_are_checked_with_postgresqls_saslprep(pg, make_role, pg_config):
    role, _ = make_role()
    target = target_for(pg_config(role))
    # A no-break space (mapped to a space), a soft hyphen (mapped to nothing), a Roman numeral (NFKC -> "IX").
    new = f"p\u00e4ss\u00a0w\u00adord\u2168-{secrets.token_hex(8)}"

    target.apply(new, make_context())

    target.verify(new, make_context())
    # libpq prepared the value before hashing; our check must have done the same to agree.
    assert verifier_matches(stored_verifier(pg, role), new.replace("\u00a0", " ").replace("\u00ad", "")
                            .replace("\u2168", "IX"), role)


class RecordingRelay:
    """A loopback TCP relay to PostgreSQL that keeps every byte the client sends."""

    def __init__(self, host, port):
        self.upstream, self.sent = (host, port), bytearray()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                server = socket.create_connection(self.upstream)
                threading.Thread(target=self.pump, args=(client, server, self.sent), daemon=True).start()
                threading.Thread(target=self.pump, args=(server, client, None), daemon=True).start()

    @staticmethod
    def pump(source, sink, record):
        with contextlib.suppress(OSError), source, sink:
            while chunk := source.recv(65536):
                if record is not None:
                    record.extend(chunk)
                sink.sendall(chunk)


def test_the_plain_value_never_goes_over_the_wire(make_role, pg_config):
    role, _ = make_role()
    admin = conninfo_to_dict(PG_URL)
    relay = RecordingRelay(admin.get("host", "127.0.0.1"), int(admin.get("port", 5432)))
    target = target_for(pg_config(role, port=relay.port, sslmode="disable"))
    new = new_password()

    target.apply(new, make_context())
    target.verify(new, make_context())

    relay.listener.close()
    assert b"ALTER ROLE" in relay.sent and b"SCRAM-SHA-256$" in relay.sent
    assert new.encode() not in relay.sent


def test_a_refused_connection_is_transient_and_does_not_reveal_the_value(make_role, pg_config):
    role, _ = make_role()
    target = target_for(pg_config(role, port=free_port()))
    new = new_password()

    for step in (target.apply, target.verify, target.is_applied):
        with pytest.raises(TargetError) as raised:
            step(new, make_context())
        assert raised.value.transient
        assert "could not connect" in str(raised.value)
        assert new not in str(raised.value)


def test_a_missing_admin_password_variable_is_a_clear_error(make_role, pg_config, monkeypatch):
    role, _ = make_role()
    missing = f"SA_TEST_UNSET_{secrets.token_hex(4).upper()}"
    monkeypatch.delenv(missing, raising=False)
    target = target_for(pg_config(role, admin_password_env=missing))

    with pytest.raises(TargetError) as raised:
        target.apply(new_password(), make_context())

    assert not raised.value.transient
    assert str(raised.value) == f"PostgreSQL admin password: environment variable {missing} is not set"


def test_an_admin_without_privilege_is_a_permanent_error(make_role, pg_config):
    role, _ = make_role()
    weak_admin, weak_password = make_role()
    target = target_for(pg_config(role, admin_user=weak_admin, admin_password=weak_password))
    new = new_password()

    with pytest.raises(TargetError) as raised:
        target.apply(new, make_context())

    assert not raised.value.transient
    assert f'"{weak_admin}" may not change role "{role}"' in str(raised.value)
    assert new not in str(raised.value)


def test_nothing_is_claimed_when_nothing_can_be_proven(make_role, pg_config, pg):
    role, _ = make_role()
    # CREATEROLE with ADMIN OPTION may set the password (PostgreSQL 15 and 16+) but not read pg_authid.
    admin, admin_password = make_role(options=sql.SQL("CREATEROLE"))
    pg.execute(sql.SQL("GRANT {} TO {} WITH ADMIN OPTION").format(sql.Identifier(role), sql.Identifier(admin)))
    target = target_for(pg_config(role, admin_user=admin, admin_password=admin_password))
    new = new_password()

    target.apply(new, make_context())

    assert verifier_matches(stored_verifier(pg, role), new, role)
    if server_checks_passwords(role):
        assert target.is_applied(new, make_context())
        target.verify(new, make_context())
    else:
        # Trust auth: logging in proves nothing and this admin cannot read the verifier.
        assert not target.is_applied(new, make_context())
        with pytest.raises(TargetError, match="Cannot prove") as raised:
            target.verify(new, make_context())
        assert not raised.value.transient


@pytest.mark.parametrize(("change", "field"), [
    ({"admin_password": "hunter2-Hunter2"}, "admin_password"),
    ({"admin_password_env": "hunter2-Hunter2"}, "admin_password_env"),
    ({"role": None}, "role"),
    ({"port": "5432"}, "port"),
    ({"sslmode": "sometimes"}, "sslmode"),
    ({"admin_password_file": "relative/path"}, "admin_password_file"),
    ({"admin_password_env": "PG_ADMIN", "admin_password_file": "/run/secrets/pg"}, "admin_password_env"),
    ({"role": "r" * 64}, "role"),
])
def test_bad_postgresql_configs_are_refused_in_one_line_naming_the_field(change, field):
    config = {"kind": "postgresql", "host": "db.internal", "role": "app", "admin_user": "rotator", **change}
    config = {key: value for key, value in config.items() if value is not None}

    with pytest.raises(TargetConfigError) as raised:
        validate_target_config(config)

    message = str(raised.value)
    assert message.startswith(f'postgresql target: "{field}"')
    assert "\n" not in message and "hunter2" not in message


def test_postgresql_defaults_and_description_hold_no_credentials():
    config = validate_target_config({"kind": "postgresql", "host": "db.internal", "role": "app",
                                     "admin_user": "rotator", "admin_password_env": "PG_ADMIN_PASSWORD"})
    assert config == {"kind": "postgresql", "host": "db.internal", "port": 5432, "dbname": "postgres",
                      "role": "app", "admin_user": "rotator", "admin_password_env": "PG_ADMIN_PASSWORD",
                      "connect_timeout": 5}
    assert PostgresRoleTarget(config).describe() == \
        'PostgreSQL role "app" on db.internal:5432/postgres, set by "rotator"'


# --- Webhook ---------------------------------------------------------------------------------------------


class Receiver(ThreadingHTTPServer):
    """Records every POST and answers with the next scripted status (200 once the script runs out)."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.received, self.script, self.lock = [], [], threading.Lock()

    def url(self, path="/hooks/rotation"):
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class ReceiverHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.received.append((self.path, self.headers, body))
            status = self.server.script.pop(0) if self.server.script else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):
        pass  # keeps pytest output clean


@pytest.fixture(scope="module")
def receiver_server():
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def receiver(receiver_server):
    receiver_server.received.clear()
    receiver_server.script.clear()
    return receiver_server


@pytest.fixture
def hmac_secret(monkeypatch):
    secret = secrets.token_hex(32)
    monkeypatch.setenv(HMAC_ENV, secret)
    return secret


def webhook(url, **overrides):
    return target_for({"kind": "webhook", "url": url, "hmac_secret_env": HMAC_ENV, "backoff_seconds": 0.01,
                       **overrides})


def test_webhook_posts_a_signed_notice_that_never_carries_the_value(receiver, hmac_secret):
    context, new = make_context(), new_password()
    target = webhook(receiver.url())
    assert not target.is_applied(new, context)

    target.apply(new, context)

    [(path, headers, body)] = receiver.received
    assert path == "/hooks/rotation"
    assert headers["X-SecretsAdmin-Request-Id"] == context.request_id
    timestamp = headers["X-SecretsAdmin-Timestamp"]
    assert abs(int(timestamp) - time.time()) < 60
    # Checked the way a receiver would, from the documented recipe rather than through sign().
    expected = hmac.new(hmac_secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-SecretsAdmin-Signature"], f"sha256={expected}")
    assert sign(hmac_secret.encode(), timestamp, body) == f"sha256={expected}"
    assert sign(b"another secret", timestamp, body) != f"sha256={expected}"
    notice = json.loads(body)
    assert notice.keys() == {"event", "request_id", "secret", "provider", "version", "timestamp"}
    assert (notice["event"], notice["request_id"], notice["secret"], notice["provider"], notice["version"]) == (
        "secret.rotated", context.request_id, "app/db#password", "demo-vault", "v2")
    assert new.encode() not in body
    assert all(new not in value for value in headers.values())


def test_webhook_secret_can_come_from_a_file(receiver, tmp_path):
    secret = secrets.token_hex(32)
    (tmp_path / "hmac").write_text(secret + "\n")
    target = target_for({"kind": "webhook", "url": receiver.url(), "hmac_secret_file": str(tmp_path / "hmac")})

    target.apply(new_password(), make_context())

    [(_, headers, body)] = receiver.received
    assert headers["X-SecretsAdmin-Signature"] == sign(secret.encode(), headers["X-SecretsAdmin-Timestamp"], body)


@pytest.mark.parametrize("status", [500, 503, 429])
def test_webhook_retries_a_passing_failure_then_succeeds(receiver, hmac_secret, status):
    receiver.script[:] = [status]
    context = make_context()

    webhook(receiver.url()).apply(new_password(), context)

    assert len(receiver.received) == 2
    assert {headers["X-SecretsAdmin-Request-Id"] for _, headers, _ in receiver.received} == {context.request_id}
    assert receiver.received[0][2] == receiver.received[1][2]


def test_webhook_gives_up_after_attempts_with_a_transient_error(receiver, hmac_secret):
    receiver.script[:] = [500] * 10

    with pytest.raises(TargetError) as raised:
        webhook(receiver.url(), attempts=4).apply(new_password(), make_context())

    assert raised.value.transient
    assert "HTTP 500" in str(raised.value)
    assert len(receiver.received) == 4


def test_webhook_client_errors_are_permanent_and_not_retried(receiver, hmac_secret):
    receiver.script[:] = [400]

    with pytest.raises(TargetError) as raised:
        webhook(receiver.url()).apply(new_password(), make_context())

    assert not raised.value.transient
    assert "HTTP 400" in str(raised.value)
    assert len(receiver.received) == 1


def test_an_unreachable_webhook_is_transient_and_hides_the_path(hmac_secret):
    token = secrets.token_hex(8)
    target = webhook(f"http://127.0.0.1:{free_port()}/hooks/{token}", attempts=2, timeout_seconds=2)

    with pytest.raises(TargetError) as raised:
        target.apply(new_password(), make_context())

    assert raised.value.transient
    assert "ConnectionError" in str(raised.value)
    assert token not in str(raised.value) and token not in target.describe()


def test_a_missing_hmac_secret_is_a_clear_error(receiver, monkeypatch):
    monkeypatch.delenv(HMAC_ENV, raising=False)

    with pytest.raises(TargetError, match=f"environment variable {HMAC_ENV} is not set"):
        webhook(receiver.url()).apply(new_password(), make_context())

    assert receiver.received == []


@pytest.mark.parametrize("url", ["http://example.com/hook", "http://10.0.0.5/hook", "ftp://127.0.0.1/hook",
                                 "https://user:pass@example.com/hook", "https:///hook"])
def test_webhook_urls_must_be_https_except_on_loopback(url):
    with pytest.raises(TargetConfigError) as raised:
        validate_target_config({"kind": "webhook", "url": url, "hmac_secret_env": HMAC_ENV})
    assert str(raised.value).startswith('webhook target: "url"')
    assert "pass" not in str(raised.value)


@pytest.mark.parametrize("url", ["https://hooks.example.com/rotated", "http://127.0.0.1:8080/h",
                                 "http://localhost/h", "http://[::1]:9000/h"])
def test_webhook_accepts_https_and_loopback_http(url):
    config = validate_target_config({"kind": "webhook", "url": url, "hmac_secret_env": HMAC_ENV})
    assert (config["attempts"], config["timeout_seconds"], config["verify_tls"]) == (3, 10, True)
    assert isinstance(target_for(config), WebhookTarget)


def test_webhook_requires_an_hmac_secret_source():
    with pytest.raises(TargetConfigError, match='"hmac_secret_env" \\(or "hmac_secret_file"\\) is required'):
        validate_target_config({"kind": "webhook", "url": "https://hooks.example.com/"})


# --- Registry --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("config", [{}, {"kind": "none"}, None])
def test_no_config_means_no_target(config):
    target = target_for(config)
    assert isinstance(target, NoTarget)
    assert target.is_applied("anything", make_context())
    assert validate_target_config(config) == {"kind": "none"}


def test_unknown_kinds_and_keys_are_refused():
    with pytest.raises(TargetConfigError, match='"kind" must be one of none, postgresql, webhook'):
        target_for({"kind": "ldap"})
    with pytest.raises(TargetConfigError, match='none target: "url" is not a known setting'):
        validate_target_config({"url": "https://hooks.example.com/"})
