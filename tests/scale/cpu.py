"""CPU time by component over a stretch of a run (psutil), and PostgreSQL's lock waits: what the bottleneck is.

    with CpuMeter(lambda: {"workers": [pid, ...], "openbao": [...]}, pg_dsn=url, database=name) as meter:
        ...
    meter.result()   # {"wall": s, "cores": {component: CPU s / wall}, "machine_cores", "lock_wait", "pg_waits"}

A sampling thread reads every component's processes (and the PostgreSQL backends connected to `database`,
from pg_stat_activity) every EVERY seconds. A process's CPU counts from the start of the stretch, or from its
birth if it was born during it, to its last sample, so processes that come and go are counted too (up to one
interval short). `machine_cores` is the whole machine's busy time over the stretch: what is not in any component
is other work (another test run, the measuring process itself).
"""
import threading
import time
from collections import Counter

import psutil

EVERY = 0.25


class CpuMeter:
    def __init__(self, components, *, pg_dsn=None, database=None, ignore_application=""):
        self.components, self.pg_dsn, self.database = components, pg_dsn, database
        self.ignore_application = ignore_application  # a measuring process's own connections
        self.first, self.last, self.owner = {}, {}, {}  # pid -> CPU seconds at first / last sample, component
        self.active_samples = 0
        self.waits = Counter()  # what active backends waited on when sampled ("Lock", "IO:WALSync", ...)
        self.stop = threading.Event()

    def _backends(self, cursor):
        # The app's connections have no application_name (''): only a named one is left out.
        cursor.execute("SELECT pid, state, wait_event_type, wait_event, left(query, 48) FROM pg_stat_activity "
                       "WHERE datname = %s AND pid <> pg_backend_pid() AND application_name IS DISTINCT FROM %s",
                       [self.database, self.ignore_application or None])
        rows = cursor.fetchall()
        active = [row for row in rows if row[1] == "active"]
        self.active_samples += len(active)
        # A lock wait is named by the statement that waits (the audit chain head's UPDATE, a run's row...).
        self.waits.update(f"Lock: {query}" if kind == "Lock" else f"{kind}:{event}"
                          for _, _, kind, event, query in active if kind)
        return [row[0] for row in rows]

    def _sample(self, cursor):
        groups = dict(self.components())
        if cursor is not None:
            groups["postgres"] = self._backends(cursor)
        for component, pids in groups.items():
            for pid in pids:
                try:
                    process = psutil.Process(pid)
                    times = process.cpu_times()
                    seconds = times.user + times.system
                    if pid not in self.first:
                        born_during = process.create_time() > self.began_epoch
                        self.first[pid], self.owner[pid] = (0.0 if born_during else seconds), component
                except psutil.Error:
                    continue
                self.last[pid] = seconds

    def _loop(self):
        connection = None
        if self.pg_dsn:
            import psycopg

            connection = psycopg.connect(self.pg_dsn, autocommit=True)
        try:
            cursor = connection.cursor() if connection else None
            while True:
                self._sample(cursor)
                if self.stop.wait(EVERY):
                    self._sample(cursor)
                    return
        finally:
            if connection:
                connection.close()

    def __enter__(self):
        self.began, self.began_epoch, self.machine = time.monotonic(), time.time(), psutil.cpu_times()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(30)
        self.wall = time.monotonic() - self.began
        after = psutil.cpu_times()
        idle = (after.idle - self.machine.idle) + (getattr(after, "iowait", 0) - getattr(self.machine, "iowait", 0))
        self.machine_seconds = sum(after) - sum(self.machine) - idle
        return False

    def result(self):
        seconds = {}
        for pid, component in self.owner.items():
            seconds[component] = seconds.get(component, 0.0) + self.last[pid] - self.first[pid]
        return {
            "wall": round(self.wall, 2),
            "cores": {component: round(value / self.wall, 2) for component, value in sorted(seconds.items())},
            "machine_cores": round(self.machine_seconds / self.wall, 2),
            "lock_wait": round(sum(n for wait, n in self.waits.items() if wait.startswith("Lock"))
                               / self.active_samples, 3) if self.active_samples else 0.0,
            # The commonest waits of active backends, as shares of the samples (WAL flushes are commits' fsyncs).
            "pg_waits": {wait: round(n / self.active_samples, 3) for wait, n in self.waits.most_common(4)},
        }


def bottleneck(result, cores=None):
    """One line naming what limited the stretch: the machine's CPUs (and who used them), PostgreSQL's locks, or
    neither (then waiting: the provider's or the network's latency, or too little work)."""
    cores = cores or psutil.cpu_count()
    used = result["cores"]
    other = max(0.0, result["machine_cores"] - sum(used.values()))  # not ours: other runs on the machine
    top = sorted([*used.items(), ("other work on the machine", round(other, 2))], key=lambda item: -item[1])
    shares = ", ".join(f"{name} {value:.2f}" for name, value in top)
    waits = ", ".join(f"{wait} {share:.0%}" for wait, share in result.get("pg_waits", {}).items()) or "none"
    if result["machine_cores"] >= 0.8 * cores:
        return (f"CPU: the machine's {cores} cores were {result['machine_cores'] / cores:.0%} busy (cores used: "
                f"{shares}); the largest consumer is {top[0][0]} (PostgreSQL's waits: {waits})")
    if result["lock_wait"] >= 0.25:
        return (f"PostgreSQL locks: {result['lock_wait']:.0%} of active backend samples waited on a lock (waits: "
                f"{waits}); cores used: {shares}")
    return (f"neither CPU ({result['machine_cores']:.2f} of {cores} cores busy: {shares}) nor locks "
            f"({result['lock_wait']:.0%} of samples): the time went to waiting - on the provider, the network, "
            f"the queue, or PostgreSQL (its active backends' waits: {waits})")
