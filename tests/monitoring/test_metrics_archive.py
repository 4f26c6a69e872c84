"""Dead processes' metric files are folded into archives: the scrape stays the same, the files do not pile up."""
import subprocess
import sys

from prometheus_client import CollectorRegistry, generate_latest, multiprocess

from secretsadmin.metrics_archive import archive_dead_processes

CHILD = """
from prometheus_client import Counter, Histogram
c = Counter("archive_test_events", "events", ["kind"])
h = Histogram("archive_test_seconds", "durations", buckets=(0.1, 1.0))
c.labels(kind="a").inc({n})
c.labels(kind="b").inc()
h.observe(0.05 * {n})
"""


def run_child(directory, n):
    subprocess.run([sys.executable, "-c", CHILD.format(n=n)], check=True, timeout=60,
                   env={"PROMETHEUS_MULTIPROC_DIR": str(directory), "PATH": "/usr/bin:/bin"})


def exposition(directory):
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(directory))
    return generate_latest(registry).decode()


def test_archiving_keeps_every_value_and_removes_the_dead_files(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    for n in (1, 2, 3):
        run_child(tmp_path, n)
    before = exposition(tmp_path)
    assert 'archive_test_events_total{kind="a"} 6.0' in before
    assert len(list(tmp_path.glob("*.db"))) == 6  # a counter and a histogram file per process

    assert archive_dead_processes() == 6
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["counter_archive.db", "histogram_archive.db"]
    assert exposition(tmp_path) == before

    run_child(tmp_path, 10)  # later processes add to the archive, not replace it
    assert archive_dead_processes() == 2
    after = exposition(tmp_path)
    assert 'archive_test_events_total{kind="a"} 16.0' in after
    assert 'archive_test_events_total{kind="b"} 4.0' in after
    assert 'archive_test_seconds_count 4.0' in after


def test_files_of_live_processes_are_left_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    (tmp_path / f"counter_{1}.db").write_bytes(b"")  # pid 1 is always alive
    assert archive_dead_processes() == 0
    assert (tmp_path / "counter_1.db").exists()
