"""Append rate with the hash chain (DatabaseStorage.append) vs. a plain INSERT of the same row, on PostgreSQL.

One child process times K appends, each in its own transaction (autocommit, as in production): the
chained append locks the ChainHead row, inserts and moves the head; the plain insert is
AuditEvent.objects.create() of the same kind of row with sequence/prev_hash/hash computed beforehand
(a separate chain segment far above the real one, so the unique constraints hold). Rounds alternate
chained/plain, three of each; the median rate of each is reported.
"""
import json
import statistics
import sys
import time

from bench._audit_data import audit_env, manage_argv, run_child
from bench._pg import throwaway_database
from bench._server import workdir

K = 2_000
ROUNDS = 3
WARMUP = 50
PLAIN_SEQUENCE_BASE = 10**12  # plain rows live far above the chained ones


def _child(k=K, rounds=ROUNDS):
    import django

    django.setup()
    from django.db import connection

    from audit.models import AuditEvent
    from audit.storage import DatabaseStorage
    from bench._audit_data import EventFactory, bench_users, chained

    storage = DatabaseStorage()
    factory = EventFactory(bench_users(), seed=7)
    segment = [PLAIN_SEQUENCE_BASE]

    def plain_records(count):
        records = list(chained((factory() for _ in range(count)), segment[0], "f" * 64))
        segment[0] += count + 1000
        return records

    def time_chained(count):
        batch = [factory() for _ in range(count)]
        start = time.perf_counter()
        for fields in batch:
            storage.append(fields)
        return count / (time.perf_counter() - start)

    def time_plain(count):
        batch = plain_records(count)
        start = time.perf_counter()
        for record in batch:
            AuditEvent.objects.create(**record)
        return count / (time.perf_counter() - start)

    if not connection.get_autocommit():
        raise SystemExit("bench: expected an autocommit connection, as in production")
    time_chained(WARMUP)
    time_plain(WARMUP)
    chained_rates, plain_rates = [], []
    for _ in range(rounds):
        chained_rates.append(time_chained(k))
        plain_rates.append(time_plain(k))
    print(json.dumps({"vendor": connection.vendor, "chained": chained_rates, "plain": plain_rates}))


def run():
    began = time.perf_counter()
    with workdir() as path, throwaway_database() as url:
        env = audit_env(path, url)
        run_child(manage_argv("migrate", "--noinput"), env).check("migrate")
        child = run_child([sys.executable, "-m", "bench.audit_append", str(K)], env).check("append child")
    rates = json.loads(child.stdout.strip().splitlines()[-1])
    chained_rate, plain_rate = statistics.median(rates["chained"]), statistics.median(rates["plain"])
    where = rates["vendor"] if url else "sqlite (PostgreSQL not reachable: SQLite fallback)"
    yield {
        "metric": "append_rate_chained", "value": round(chained_rate, 1), "unit": "events/s",
        "baseline": round(plain_rate, 1),
        "note": (f"goal >= 0.5; {where}; median of {ROUNDS} alternating rounds of {K} appends, each its own "
                 f"transaction; baseline: AuditEvent.objects.create() of the same rows with precomputed "
                 f"sequence/hash; chained rounds {[round(r) for r in rates['chained']]}, plain rounds "
                 f"{[round(r) for r in rates['plain']]} events/s; bench took {time.perf_counter() - began:.0f} s"),
    }


if __name__ == "__main__":
    _child(int(sys.argv[1]) if len(sys.argv) > 1 else K)
