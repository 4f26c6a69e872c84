"""Fold the metric files of dead processes into one archive file per type.

In prometheus_client's multiprocess mode every process leaves files named <type>_<pid>.db, and RQ forks a
new work-horse for every job: without this, each job run would add files that every scrape must read
again, for ever. Counters, histograms and summaries of dead processes are summed key by key into
<type>_archive.db (their values only ever add up across processes, so the sum is exactly what a scrape
would have computed) and the originals are removed. Live gauges of dead processes are already dropped by
mark_process_dead. A scrape holds a shared lock while it reads, the archiver an exclusive one, so no
scrape counts a value twice or misses it.
"""
import contextlib
import fcntl
import os
import time
from pathlib import Path

from prometheus_client.mmap_dict import MmapedDict

ARCHIVED_TYPES = ("counter", "histogram", "summary")
LOCK_NAME = ".archive.lock"  # not *.db: the collector ignores it


def _directory():
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(value) if value else None


@contextlib.contextmanager
def _locked(directory, mode):
    with open(directory / LOCK_NAME, "a+") as handle:
        fcntl.flock(handle, mode)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def reading():
    """Hold while a scrape reads the directory (a no-op outside multiprocess mode)."""
    directory = _directory()
    if directory is None:
        yield
        return
    with _locked(directory, fcntl.LOCK_SH):
        yield


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _dead_files(directory, kind):
    for path in directory.glob(f"{kind}_*.db"):
        pid = path.stem.split("_", 1)[1]
        if pid.isdigit() and not _alive(int(pid)):
            yield path


def archive_dead_processes():
    """Returns how many files were folded into the archives."""
    directory = _directory()
    if directory is None or not directory.is_dir():
        return 0
    folded = 0
    with _locked(directory, fcntl.LOCK_EX):
        for kind in ARCHIVED_TYPES:
            dead = list(_dead_files(directory, kind))
            if not dead:
                continue
            archive = directory / f"{kind}_archive.db"
            totals = {}
            for path in ([archive] if archive.exists() else []) + dead:
                for key, value, _timestamp, _position in MmapedDict.read_all_values_from_file(str(path)):
                    totals[key] = totals.get(key, 0.0) + value
            staging = directory / f".{kind}_archive.tmp"
            written = MmapedDict(str(staging))
            try:
                now = time.time()
                for key, value in totals.items():
                    written.write_value(key, value, now)
            finally:
                written.close()
            os.replace(staging, archive)
            for path in dead:
                path.unlink(missing_ok=True)
            folded += len(dead)
    return folded


def archive_dead_metrics_job():
    return archive_dead_processes()
