"""Dead processes' metric files are folded into archives: the scrape stays the same, the files do not pile up."""
import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.parser import text_string_to_metric_families

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


def values(directory):
    """{sample: value} of the scrape (compared with approx: sums of floats depend on their order)."""
    return {sample.name + str(sorted(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(exposition(directory)) for sample in family.samples}


def test_archiving_keeps_every_value_and_removes_the_dead_files(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    for n in (1, 2, 3):
        run_child(tmp_path, n)
    before = values(tmp_path)
    assert before["archive_test_events_total[('kind', 'a')]"] == 6
    assert len(list(tmp_path.glob("*.db"))) == 6  # a counter and a histogram file per process

    assert archive_dead_processes() == 6
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["counter_archive.db", "histogram_archive.db"]
    assert values(tmp_path) == pytest.approx(before)

    run_child(tmp_path, 10)  # later processes add to the archive, not replace it
    assert archive_dead_processes() == 2
    after = values(tmp_path)
    assert after["archive_test_events_total[('kind', 'a')]"] == 16
    assert after["archive_test_events_total[('kind', 'b')]"] == 4
    assert after["archive_test_seconds_count[]"] == 4


def test_files_of_live_processes_are_left_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    (tmp_path / f"counter_{1}.db").write_bytes(b"")  # pid 1 is always alive
    assert archive_dead_processes() == 0
    assert (tmp_path / "counter_1.db").exists()
