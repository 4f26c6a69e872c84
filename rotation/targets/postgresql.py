"""The "postgresql" target: sets a login role's password to the rotated value and proves the role accepts it.

How a value is shown to work (is_applied and verify share one check):

1. Log in as the role with the value (the AWS rotation template's pattern). A "password authentication
   failed" answer settles it: rejected. If the login succeeds, libpq reports whether the server actually
   asked for a password (PQconnectionUsedPassword); if it did, the value is accepted.
2. If the server did not ask (trust, peer or cert auth in pg_hba.conf: any password "works"), or the role
   cannot log in from here at all, the login proves nothing. Then the admin reads the role's stored verifier
   from pg_authid.rolpassword and recomputes it from the value with the stored salt and iteration count
   (SCRAM-SHA-256, with PostgreSQL's SASLprep) or from the role name (legacy md5). That proves the
   password is set whatever pg_hba.conf says. Reading pg_authid needs a superuser admin.
3. If neither is possible, is_applied answers False (apply is idempotent, so re-applying is safe) and
   verify fails with a non-transient error that says why: nothing was proven, so nothing is claimed.

apply sends ALTER ROLE ... PASSWORD with a verifier libpq computed client-side (as psql's \\password does,
using the server's password_encryption, scram-sha-256 by default), so the plain value never reaches the
server or its logs; log_statement and log_min_error_statement are also silenced for that session where the
admin may set them. Connection failures that can pass (refused, time-outs, too many clients, restarts) are
transient; authentication and privilege failures are not. Error messages never carry the value.
"""
import base64
import contextlib
import hashlib
import hmac
import re
import stringprep
import unicodedata

import psycopg
from psycopg import sql

from rotation.targets.base import ConfigChecker, RotationTarget, TargetContext, TargetError, read_credential, scrub

SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
ACCEPTED, REJECTED, UNKNOWN = "accepted", "rejected", "unknown"
# Server answers at connect time that say "try again later" rather than "you are wrong".
TRANSIENT_FATAL = ("too many clients", "remaining connection slots", "starting up", "shutting down",
                   "in recovery mode", "not yet accepting connections", "terminating connection")
MAX_IDENTIFIER_BYTES = 63  # longer names are silently truncated by PostgreSQL: we would alter another role


class ConnectError(TargetError):
    def __init__(self, message, *, transient, password_rejected):
        super().__init__(message, transient=transient)
        self.password_rejected = password_rejected


class PostgresRoleTarget(RotationTarget):
    kind = "postgresql"

    @classmethod
    def validate(cls, config: dict) -> dict:
        check = ConfigChecker(cls.kind, config, allowed={
            "host", "port", "dbname", "role", "admin_user", "admin_password_env", "admin_password_file",
            "sslmode", "connect_timeout"})
        normalised = {
            "host": check.text("host", required=True),
            "port": check.integer("port", default=5432, minimum=1, maximum=65535),
            "dbname": check.text("dbname", default="postgres"),
            "role": check.text("role", required=True),
            "admin_user": check.text("admin_user", required=True),
            **check.credential_source("admin_password_env", "admin_password_file", required=False),
            "connect_timeout": check.integer("connect_timeout", default=5, minimum=1, maximum=300),
        }
        for field in ("role", "admin_user"):
            if len(normalised[field].encode()) > MAX_IDENTIFIER_BYTES:
                check.fail(field, f"must be at most {MAX_IDENTIFIER_BYTES} bytes")
        if check.choice("sslmode", SSLMODES) is not None:
            normalised["sslmode"] = config["sslmode"]
        return normalised

    def describe(self) -> str:
        c = self.config
        return f'PostgreSQL role "{c["role"]}" on {c["host"]}:{c["port"]}/{c["dbname"]}, set by "{c["admin_user"]}"'

    def is_applied(self, new_value: str, context: TargetContext) -> bool:
        return self._check(new_value) == ACCEPTED

    def apply(self, new_value: str, context: TargetContext) -> None:
        role = self.config["role"]
        conn = self._connect_admin()
        error = None
        try:
            for statement in ("SET log_statement = 'none'", "SET log_min_error_statement = 'panic'"):
                # Superuser-only unless granted; if refused, the statement still carries a verifier, not the value.
                with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
            # Asked here rather than by libpq (algorithm=None), whose own blocking query holds the GIL.
            algorithm = conn.execute("SHOW password_encryption").fetchone()[0]
            verifier = conn.pgconn.encrypt_password(new_value.encode(), role.encode(), algorithm.encode())
            verifier = verifier.decode("ascii")
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(verifier)))
        except psycopg.Error as exc:
            error = self._statement_error(exc, new_value)
        finally:
            conn.close()
        if error:
            raise error

    def verify(self, new_value: str, context: TargetContext) -> None:
        state = self._check(new_value)
        role = self.config["role"]
        if state == REJECTED:
            raise TargetError(f'PostgreSQL role "{role}" does not accept the new password')
        if state == UNKNOWN:
            raise TargetError(
                f'Cannot prove PostgreSQL role "{role}" accepts the new password: the server does not ask it '
                f"for a password (trust/peer/cert in pg_hba.conf) and admin_user cannot read pg_authid")

    def _check(self, new_value):
        try:
            conn = self._connect(self.config["role"], new_value, who="role")
        except ConnectError as exc:
            if exc.transient:
                raise
            if exc.password_rejected:
                return REJECTED
            # No pg_hba.conf entry for the role, or it may not log in: the catalogue can still tell.
            return self._check_stored_verifier(new_value)
        try:
            server_checked_password = conn.pgconn.used_password
        finally:
            conn.close()
        return ACCEPTED if server_checked_password else self._check_stored_verifier(new_value)

    def _check_stored_verifier(self, new_value):
        role = self.config["role"]
        conn = self._connect_admin()
        error = None
        try:
            row = conn.execute("SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = %s", [role]).fetchone()
        except psycopg.errors.InsufficientPrivilege:
            return UNKNOWN
        except psycopg.Error as exc:
            error = self._statement_error(exc, new_value)
        finally:
            conn.close()
        if error:
            raise error
        if row is None:
            raise TargetError(f'PostgreSQL role "{role}" does not exist')
        matches = verifier_matches(row[0], new_value, role)
        return UNKNOWN if matches is None else (ACCEPTED if matches else REJECTED)

    def _connect_admin(self):
        password = read_credential(self.config, "admin_password_env", "admin_password_file",
                                   "PostgreSQL admin password")
        return self._connect(self.config["admin_user"], password, who="admin_user")

    def _connect(self, user, password, *, who):
        c = self.config
        params = {"host": c["host"], "port": c["port"], "dbname": c["dbname"], "user": user,
                  "connect_timeout": c["connect_timeout"], "sslmode": c.get("sslmode"), "password": password,
                  "application_name": "secretsadmin-rotation"}
        try:
            return psycopg.connect(autocommit=True, **{k: v for k, v in params.items() if v is not None})
        except psycopg.Error as exc:
            # Only text leaves this block: the exception's pgconn holds the password it was given.
            message, network_level = scrub(str(exc), password), isinstance(exc, psycopg.OperationalError)
        reason = re.sub(r"\s+", " ", message.rsplit(" failed: ", 1)[-1])
        # libpq prefixes what the server itself said with FATAL; anything else never got that far.
        network_level = network_level and "FATAL" not in reason
        return_later = network_level or any(text in reason for text in TRANSIENT_FATAL)
        raise ConnectError(f'PostgreSQL {c["host"]}:{c["port"]}: {who} "{user}" could not connect: {reason}',
                           transient=return_later, password_rejected="password authentication failed" in reason)

    def _statement_error(self, exc, new_value):
        role, admin = self.config["role"], self.config["admin_user"]
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            return TargetError(f'PostgreSQL admin_user "{admin}" may not change role "{role}"')
        if isinstance(exc, psycopg.errors.UndefinedObject):
            return TargetError(f'PostgreSQL role "{role}" does not exist')
        detail = scrub(getattr(exc.diag, "message_primary", None) or str(exc), new_value)
        # Class 08/40/53/55/57 (lost connection, deadlock, resources, lock, shutdown) map to OperationalError.
        return TargetError(f"PostgreSQL {type(exc).__name__} changing role \"{role}\": {detail}",
                           transient=isinstance(exc, psycopg.OperationalError))


def verifier_matches(stored: str | None, password: str, role: str) -> bool | None:
    """Whether a pg_authid.rolpassword verifier was made from password; None for a format we cannot check."""
    if stored is None:
        return False
    if stored.startswith("SCRAM-SHA-256$"):
        try:
            iterations_salt, keys = stored.removeprefix("SCRAM-SHA-256$").split("$")
            iterations, salt = iterations_salt.split(":")
            stored_key, server_key = (base64.b64decode(key, validate=True) for key in keys.split(":"))
            salted = hashlib.pbkdf2_hmac("sha256", pg_saslprep(password), base64.b64decode(salt), int(iterations))
        except ValueError:
            return None
        client_key = hmac.new(salted, b"Client Key", "sha256").digest()
        return (hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key)
                and hmac.compare_digest(hmac.new(salted, b"Server Key", "sha256").digest(), server_key))
    if re.fullmatch(r"md5[0-9a-f]{32}", stored):
        # The legacy format PostgreSQL still reads: md5(password || role name), no SASLprep.
        candidate = "md5" + hashlib.md5((password + role).encode(), usedforsecurity=False).hexdigest()
        return hmac.compare_digest(candidate, stored)
    return None


def pg_saslprep(password: str) -> bytes:
    """PostgreSQL's SASLprep (src/common/saslprep.c), quirks included: ASCII passes untouched; the prohibited
    and bidi checks look at the mapped, not the normalised, characters; any failure means "use the raw bytes"."""
    raw = password.encode()
    if password.isascii():
        return raw
    mapped = [" " if stringprep.in_table_c12(ch) else ch for ch in password if not stringprep.in_table_b1(ch)]
    if not mapped:
        return raw
    prohibited = (stringprep.in_table_c12, stringprep.in_table_c21, stringprep.in_table_c22, stringprep.in_table_c3,
                  stringprep.in_table_c4, stringprep.in_table_c5, stringprep.in_table_c6, stringprep.in_table_c7,
                  stringprep.in_table_c8, stringprep.in_table_c9, stringprep.in_table_a1)
    if any(test(ch) for ch in mapped for test in prohibited):
        return raw
    if any(stringprep.in_table_d1(ch) for ch in mapped) and (
            any(stringprep.in_table_d2(ch) for ch in mapped)
            or not (stringprep.in_table_d1(mapped[0]) and stringprep.in_table_d1(mapped[-1]))):
        return raw
    return unicodedata.normalize("NFKC", "".join(mapped)).encode()
