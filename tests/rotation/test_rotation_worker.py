"""The rotation queue's worker class: RQ's worker, minus the heartbeats that only repeat the one just sent."""
import time

import django_rq
import pytest
from redis.client import Pipeline

from rotation import jobs
from rotation.jobs import ROUTINE_EVERY, RotationWorker

pytestmark = pytest.mark.django_db  # the worker looks up which provider SDKs to preload


@pytest.fixture
def worker():
    connection = django_rq.get_connection("rotation")
    worker = RotationWorker(["rotation-heartbeat-test"], connection=connection)
    worker.register_birth()
    yield worker
    worker.register_death()
    connection.delete(worker.key)


@pytest.fixture
def round_trips(monkeypatch, worker):
    """Every command the worker sends on its own and every pipeline it executes, as they reach Redis."""
    sent = []
    single, batch = type(worker.connection).execute_command, Pipeline.execute

    def one(client, *args, **options):
        sent.append(args[0])
        return single(client, *args, **options)

    def many(pipeline, *args, **options):
        sent.append(tuple(command[0][0] for command in pipeline.command_stack))
        return batch(pipeline, *args, **options)

    monkeypatch.setattr(type(worker.connection), "execute_command", one)
    monkeypatch.setattr(Pipeline, "execute", many)
    return sent


def during(sent, call, *args, **options):
    """What reached Redis while `call` ran."""
    before = len(sent)
    call(*args, **options)
    return sent[before:]


def test_a_heartbeat_is_one_round_trip_that_keeps_the_worker_registered(worker, round_trips):
    worker.connection.persist(worker.key)
    assert during(round_trips, worker.heartbeat) == [("HSET", "EXPIRE", "EXPIRE")]  # RQ's three, sent together
    assert 0 < worker.connection.ttl(worker.key) <= worker.worker_ttl + 60


def test_a_routine_heartbeat_within_a_second_of_the_last_is_not_sent(worker, round_trips, monkeypatch):
    clock = [time.monotonic()]
    monkeypatch.setattr(jobs.time, "monotonic", lambda: clock[0])
    assert len(during(round_trips, worker.heartbeat)) == 1
    clock[0] += ROUTINE_EVERY / 2
    assert during(round_trips, worker.heartbeat) == []
    clock[0] += ROUTINE_EVERY
    assert len(during(round_trips, worker.heartbeat)) == 1


def test_a_heartbeat_asking_for_its_own_expiry_is_always_sent(worker, round_trips, monkeypatch):
    now = time.monotonic()
    monkeypatch.setattr(jobs.time, "monotonic", lambda: now)
    worker.heartbeat()
    longer = worker.worker_ttl + 600  # as RQ's job monitoring asks, say
    assert during(round_trips, worker.heartbeat, timeout=longer) == [("HSET", "EXPIRE", "EXPIRE")]
    assert worker.connection.ttl(worker.key) > worker.worker_ttl + 60
    with worker.connection.pipeline() as pipeline:  # a beat in one of RQ's own round trips goes with it
        assert during(round_trips, worker.heartbeat, 30, pipeline=pipeline) == []
        pipeline.execute()
    assert round_trips[-1] == ("HSET", "EXPIRE", "EXPIRE") and worker.connection.ttl(worker.key) <= 30


@pytest.fixture
def health_checks(monkeypatch):
    """Each time Django checks the connection before reusing it (CONN_HEALTH_CHECKS), as it happens."""
    from django.db import connections

    checked, is_usable = [], type(connections["default"]).is_usable

    def counting(wrapper):
        checked.append(True)
        return is_usable(wrapper)

    monkeypatch.setattr(type(connections["default"]), "is_usable", counting)
    return checked


@pytest.mark.django_db(transaction=True)
def test_a_busy_worker_skips_the_health_check_an_idle_one_makes(health_checks, monkeypatch):
    from django.db import connection

    assert connection.settings_dict["CONN_HEALTH_CHECKS"]
    # A connection kept between jobs, as PostgreSQL's is (settings.py; SQLite's are closed after each job).
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    connection.close()
    connection.ensure_connection()
    clock = [time.monotonic()]  # the real clock's reading, so the connection's max age still counts from it
    monkeypatch.setattr(jobs.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(jobs, "_last_job_ended", [float("-inf")])

    assert jobs.run_rotation_job(987654) == "not claimed"  # no such run: one query, on a connection idle till now
    assert len(health_checks) == 1
    clock[0] += jobs.CONNECTION_TRUSTED_FOR / 2
    assert jobs.run_rotation_job(987654) == "not claimed"  # right after a job: the same connection, unchecked
    assert len(health_checks) == 1
    clock[0] += jobs.CONNECTION_TRUSTED_FOR
    assert jobs.run_rotation_job(987654) == "not claimed"  # idle again
    assert len(health_checks) == 2


@pytest.mark.django_db(transaction=True)
def test_a_connection_that_saw_an_error_is_checked_however_recent(health_checks, monkeypatch):
    from django.db import connection

    monkeypatch.setattr(jobs, "_last_job_ended", [jobs.time.monotonic()])
    connection.ensure_connection()
    connection.errors_occurred = True  # as after a query that failed mid-job

    assert jobs.run_rotation_job(987654) == "not claimed"
    assert health_checks  # close_old_connections checked it (and kept it: it works)


def test_rq_suspend_is_looked_for_once_a_second_and_then_obeyed(worker, round_trips, monkeypatch):
    from rq.exceptions import StopRequested
    from rq.suspension import resume, suspend

    clock = [time.monotonic()]
    monkeypatch.setattr(jobs.time, "monotonic", lambda: clock[0])
    assert len(during(round_trips, worker.check_for_suspension, burst=True)) == 1  # not suspended: carry on
    suspend(worker.connection)
    try:
        clock[0] += ROUTINE_EVERY / 2
        assert during(round_trips, worker.check_for_suspension, burst=True) == []  # not looked for yet
        clock[0] += ROUTINE_EVERY
        with pytest.raises(StopRequested):  # a burst worker stops when suspended, as RQ's does
            worker.check_for_suspension(burst=True)
    finally:
        resume(worker.connection)


def test_the_workers_state_is_written_when_it_changes(worker, round_trips):
    worker.set_state("idle")
    assert during(round_trips, worker.set_state, "idle") == []
    assert during(round_trips, worker.set_state, "busy") == ["HSET"]
    assert worker.connection.hget(worker.key, "state") == b"busy"
