"""Helpers for the audit benchmarks: a fast, valid hash-chained audit table, and measured child processes.

In the benchmark process (no Django there):
    env = audit_env(workdir, database_url)      # settings for child processes
    prepare_database(env, n)                     # migrate, then fill with n chained events (in a child)
    child = run_child([...], env)                # wall seconds, peak RSS and output of one child

In a Django process: `python -m bench._audit_data N` (or fill(N)) appends N events that chain on from
the current head exactly as audit.storage.DatabaseStorage.append would (same sequence, prev_hash and
hash), in bulk_create batches of 10,000, then moves the ChainHead row to the last event.
"""
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
BATCH_SIZE = 10_000
DEFAULT_EVENTS = 1_000_000


def events_wanted(default=DEFAULT_EVENTS):
    """N for the big-table benchmarks: BENCH_AUDIT_EVENTS overrides the full size for quick runs."""
    return int(os.environ.get("BENCH_AUDIT_EVENTS") or default)


# ---------------------------------------------------------------- in the benchmark process


def _local_redis_url():
    # A real Redis, when there is one, spares every child from starting an embedded redis-server
    # (nothing measured here uses Redis, but each Django process would otherwise fork one).
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return "redis://127.0.0.1:6379/15"
    except OSError:
        return None


def audit_env(workdir, database_url=None):
    """Environment for Django children: test settings, a throwaway database and var dir."""
    env = dict(os.environ)
    env.update(
        SECRETSADMIN_ENV="test",
        DJANGO_SETTINGS_MODULE="secretsadmin.settings",
        DATABASE_URL=database_url or f"sqlite:///{workdir}/bench.sqlite3",
        SECRETSADMIN_VAR_DIR=str(Path(workdir) / "var"),
        PYTHONPATH=str(BASE_DIR),
        PYTHONUNBUFFERED="1",
    )
    if "REDIS_URL" not in os.environ and (redis_url := _local_redis_url()):
        env["REDIS_URL"] = redis_url
    return env


@dataclass
class Child:
    returncode: int
    seconds: float
    peak_rss_mb: float
    stdout: str
    stderr: str

    def check(self, what):
        if self.returncode != 0:
            raise SystemExit(f"bench: {what} failed (exit {self.returncode}):\n{self.stdout}\n{self.stderr}")
        return self


def run_child(argv, env):
    """Run one child to completion: its wall time and peak RSS (its own, or a waited-for descendant's)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(argv, env=env, cwd=BASE_DIR, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        # wait4 gives this child's own rusage, whatever other children this process has waited for.
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Child(process.returncode, seconds, usage.ru_maxrss / 1024,  # Linux: KiB -> MiB
                     out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"))


def manage_argv(*args):
    return [sys.executable, str(BASE_DIR / "manage.py"), *args]


def python_argv(code):
    return [sys.executable, "-c", code]


def prepare_database(env, events):
    """Migrate the throwaway database and fill it with `events` chained events; returns the fill's seconds."""
    run_child(manage_argv("migrate", "--noinput"), env).check("migrate")
    child = run_child([sys.executable, "-m", "bench._audit_data", str(events)], env).check("filling the audit table")
    return json.loads(child.stdout.strip().splitlines()[-1])


# Raw read of what the chain needs, through a server-side cursor inside a transaction (so PostgreSQL
# streams it rather than materialising a WITH HOLD cursor): the unavoidable read cost of a verification.
RAW_READ = """
import django
django.setup()
from django.db import connection, transaction
rows = 0
with transaction.atomic(), connection.chunked_cursor() as cursor:
    cursor.execute("SELECT sequence, hash FROM audit_auditevent ORDER BY sequence")
    while batch := cursor.fetchmany(5000):
        rows += len(batch)
print(rows)
"""


def raw_read(env):
    return run_child(python_argv(RAW_READ), env).check("raw read")


def django_check(env):
    return run_child(manage_argv("check"), env).check("manage.py check")


# ---------------------------------------------------------------- in a Django process

PROVIDERS = ["aws-prod", "aws-staging", "vault-main", "azure-kv-eu", "gcp-sm-analytics", ""]
SERVICES = ["payments", "billing", "search", "identity", "reports", "ingest", "mobile-api", "ledger"]
KINDS = ["db-password", "api-key", "tls-cert", "oauth-client", "smtp-login", "signing-key", "webhook-hmac"]
ROLES = ["Viewer", "Operator", "Approver", "Auditor", "Administrator"]
STEPS = ["generate", "store", "deploy", "verify", "revoke-old"]
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5"
    " Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "python-requests/2.32.3",
]
FIRST = ["alice", "bob", "chen", "dana", "emeka", "fatima", "goran", "hana", "ines", "jonas", "kavya", "lena",
         "marco", "noor", "olga", "pedro", "quinn", "rosa", "sven", "tomás"]
# Relative frequencies: reads dominate, administrative events are rare.
EVENT_WEIGHTS = {
    "secret.retrieval": 40, "secret.revealed": 8, "secret.creation": 3, "secret.rotation": 4, "secret.deletion": 1,
    "secret.changed_out_of_band": 1, "rotation.requested": 3, "rotation.approved": 2, "rotation.rejected": 1,
    "rotation.cancelled": 1, "rotation.step_started": 5, "rotation.step_finished": 5, "permission.granted": 1,
    "permission.revoked": 1, "provider.created": 1, "provider.changed": 1, "provider.connection_tested": 2,
    "inventory.synced": 6, "auth.login": 6, "auth.logout": 4, "auth.login_failed": 2, "report.generated": 1,
    "report.exported": 1, "audit.exported": 1,
}


class EventFactory:
    """Realistic, varied, valid field dicts (as audit.recorder.build_fields returns them)."""

    def __init__(self, users, seed=20240601, start=None):
        from audit.events import EVENT_TYPES, FORBIDDEN_DETAIL_KEYS

        unknown = set(EVENT_WEIGHTS) - set(EVENT_TYPES)
        if unknown:
            raise SystemExit(f"bench: event types no longer in the catalog: {sorted(unknown)}")
        self.forbidden = FORBIDDEN_DETAIL_KEYS
        self.rng = random.Random(seed)
        self.users = users  # [(pk, username)]
        self.types, self.weights = list(EVENT_WEIGHTS), list(EVENT_WEIGHTS.values())
        self.now = start or datetime.now(UTC) - timedelta(days=30)
        self.secrets = [f"{env}/{svc}/{kind}" for env in ("prod", "staging") for svc in SERVICES for kind in KINDS]

    def _details(self, event_type, rng):
        if event_type == "secret.rotation" or event_type.startswith("rotation.step"):
            return {"step": rng.choice(STEPS), "version": rng.randint(1, 400), "duration_ms": rng.randint(3, 9000)}
        if event_type.startswith("rotation."):
            return {"request": rng.randint(1, 50_000), "reason": rng.choice(["scheduled", "compromise", "policy"])}
        if event_type.startswith("permission."):
            return {"role": rng.choice(ROLES)}
        if event_type == "inventory.synced":
            return {"added": rng.randint(0, 20), "removed": rng.randint(0, 5), "unchanged": rng.randint(0, 900)}
        if event_type in ("report.generated", "report.exported", "audit.exported"):
            return {"format": rng.choice(["csv", "jsonl", "pdf"]), "rows": rng.randint(1, 100_000)}
        if event_type == "secret.retrieval":
            return {"version": rng.randint(1, 400)} if rng.random() < 0.5 else {}
        return {}

    def __call__(self):
        rng = self.rng
        event_type = rng.choices(self.types, self.weights)[0]
        self.now += timedelta(microseconds=rng.randint(1, 5_000_000))
        roll = rng.random()
        if event_type == "inventory.synced" or (event_type.startswith("rotation.step") and roll < 0.8):
            actor_id, actor_name, actor_type = None, "", "worker"
        elif roll < 0.04:
            actor_id, actor_name, actor_type = None, "", "system"
        else:
            actor_id, actor_name = rng.choice(self.users)
            actor_type = "user"
        failed = rng.random() < (0.3 if event_type == "auth.login_failed" else 0.03)
        if event_type == "auth.login_failed":
            failed = True
        provider, secret_name, target = "", "", ("", "", "")
        if event_type.startswith(("secret.", "rotation.")):
            provider = rng.choice(PROVIDERS[:-1])
            secret_name = rng.choice(self.secrets)
            target = ("secrets.secret", str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                      f"{provider}: {secret_name}")
        elif event_type.startswith(("auth.", "permission.")):
            pk, name = rng.choice(self.users)
            target = ("auth.user", str(pk), name)
        elif event_type.startswith(("provider.", "inventory.")):
            provider = rng.choice(PROVIDERS[:-1])
            target = ("providers.provider", str(rng.randint(1, 12)), provider)
        details = self._details(event_type, rng)
        if any(key in self.forbidden for key in details):  # never: a guard against edits above
            raise SystemExit(f"bench: forbidden detail key in {details}")
        by_person = actor_type == "user"
        if by_person and rng.random() < 0.1:
            client_ip = f"2001:db8:{rng.randint(0, 0xffff):x}::{rng.randint(1, 0xffff):x}"
        elif by_person:
            client_ip = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        else:
            client_ip = None
        return {
            "uuid": uuid.UUID(int=rng.getrandbits(128), version=4),
            "timestamp": self.now,
            "actor_id": actor_id,
            "actor_name": actor_name,
            "actor_type": actor_type,
            "event_type": event_type,
            "outcome": "failure" if failed else "success",
            "failure_reason": rng.choice(["invalid credentials", "provider timed out", "access denied by provider"])
            if failed else "",
            "target_type": target[0],
            "target_id": target[1],
            "target_text": target[2],
            "provider": provider,
            "secret_name": secret_name,
            "details": details,
            "request_id": f"{rng.getrandbits(128):032x}" if by_person else "",
            "client_ip": client_ip,
            "user_agent": rng.choice(AGENTS) if by_person else "",
        }


def bench_users(count=20):
    """A few accounts to act as actors (unusable passwords: nobody signs in as them)."""
    from django.contrib.auth.models import User

    names = [f"{FIRST[i % len(FIRST)]}.{i:02d}" for i in range(count)]
    existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    User.objects.bulk_create([User(username=n, password="!") for n in names if n not in existing])
    return list(User.objects.filter(username__in=names).order_by("pk").values_list("pk", "username"))


def chained(fields_iter, sequence, prev_hash):
    """Assign sequence, prev_hash and hash exactly as DatabaseStorage.append does."""
    from audit.chain import event_hash

    for fields in fields_iter:
        sequence += 1
        record = {**fields, "sequence": sequence, "prev_hash": prev_hash}
        record["hash"] = prev_hash = event_hash(prev_hash, record)
        yield record


def fill(events, batch_size=BATCH_SIZE, seed=20240601):
    """Append `events` chained events after the current head; returns (last sequence, last hash)."""
    from django.db import connection, transaction

    from audit.chain import GENESIS_HASH
    from audit.models import AuditEvent, ChainHead

    factory = EventFactory(bench_users(), seed=seed)
    head = ChainHead.objects.filter(pk=1).values_list("sequence", "hash").first() or (0, GENESIS_HASH)
    sequence, last_hash = head
    records = chained((factory() for _ in range(events)), sequence, last_hash)
    batch = []
    for record in records:
        batch.append(AuditEvent(**record))
        if len(batch) == batch_size:
            AuditEvent.objects.bulk_create(batch)
            sequence, last_hash = record["sequence"], record["hash"]
            batch = []
    if batch:
        AuditEvent.objects.bulk_create(batch)
        sequence, last_hash = batch[-1].sequence, batch[-1].hash
    with transaction.atomic():
        if not ChainHead.objects.filter(pk=1).update(sequence=sequence, hash=last_hash):
            ChainHead.objects.create(pk=1, sequence=sequence, hash=last_hash)
    if connection.vendor == "postgresql":
        # What autovacuum would have done to a table that grew to this size over months.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE audit_auditevent")
            # Flush the bulk load's dirty pages now, so a checkpoint doesn't land in a measured child.
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            if cursor.fetchone()[0]:
                cursor.execute("CHECKPOINT")
    return sequence, last_hash


def main(argv):
    import django

    django.setup()
    from django.db import connection

    events = int(argv[0]) if argv else events_wanted()
    start = time.perf_counter()
    sequence, last_hash = fill(events)
    print(json.dumps({"events": events, "last_sequence": sequence, "last_hash": last_hash,
                      "seconds": round(time.perf_counter() - start, 1), "vendor": connection.vendor}))


if __name__ == "__main__":
    main(sys.argv[1:])
