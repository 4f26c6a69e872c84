"""Outages during each step: a real worker is stopped at the step, the provider (or the target) is down when
the run resumes; the run backs off, keeps the application's credential working, and finishes once it is back.
Also the AWS path end to end: AWSPENDING until promoted, AWSPREVIOUS dropped at the end.
"""
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from providers.models import Provider, Secret
from providers.sync import sync_provider
from rotation.engine import run_rotation
from rotation.models import PolicyAssignment, RotationPolicy, RotationRequest
from rotation.services import decide_rotation, request_rotation
from secretsadmin.process_group import free_port
from tests.rotation.conftest import read
from tests.rotation.workers import accepts, approve, kill_worker, start_worker, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
State = RotationRequest.State
STEPS = ("staging", "applying", "verifying", "promoting", "revoking_old")


def stop_worker_at(step, rotation, env, tmp_path):
    """A real worker carries the run up to `step` (recorded, its external call not yet made), then dies."""
    point = f"{step}.before"
    worker = start_worker(env, SECRETSADMIN_ROTATION_PAUSE_AT=point, SECRETSADMIN_ROTATION_PAUSE_DIR=str(tmp_path))
    try:
        wait_for((tmp_path / point).exists, what=f"the worker to reach {point}")
    finally:
        kill_worker(worker)
    RotationRequest.objects.filter(pk=rotation.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))


def current_value_works(vault, kv_mount, config, initial, rotation):
    """The application's view: what it can read from the provider is accepted by the database."""
    held = {read(vault, kv_mount, "db/app")["data"]["password"], initial}
    rotation.refresh_from_db()
    if rotation.new_version:
        held.add(read(vault, kv_mount, "db/app", version=int(rotation.new_version))["data"]["password"])
    return any(accepts(config, value) for value in held)


@pytest.mark.parametrize("step", STEPS)
def test_a_provider_outage_at_each_step_is_retried_and_then_resumed(step, tmp_path, worker_env, role_users, vault,
                                                                    kv_mount, target_secret):
    secret, config = target_secret
    initial = read(vault, kv_mount, "db/app")["data"]["password"]
    rotation = approve(secret, role_users)
    stop_worker_at(step, rotation, worker_env, tmp_path)
    vault.faults.fail_next(503, count=10_000)
    try:
        assert run_rotation(rotation.pk) == State.FAILED_RETRYABLE
        rotation.refresh_from_db()
        assert rotation.resume_state == step and rotation.attempts == 1 and rotation.next_attempt_at > timezone.now()
    finally:
        vault.faults.clear()
    assert current_value_works(vault, kv_mount, config, initial, rotation)
    RotationRequest.objects.filter(pk=rotation.pk).update(next_attempt_at=timezone.now())
    assert run_rotation(rotation.pk) == State.SUCCEEDED
    current = read(vault, kv_mount, "db/app")["data"]["password"]
    assert accepts(config, current) and not accepts(config, initial)
    assert vault.root.secrets.kv.v2.read_secret_metadata("db/app", mount_point=kv_mount)["data"][
        "current_version"] == 2


def test_the_target_database_down_while_applying_is_retried(tmp_path, worker_env, role_users, vault, kv_mount,
                                                             target_secret):
    secret, config = target_secret
    initial = read(vault, kv_mount, "db/app")["data"]["password"]
    rotation = approve(secret, role_users)
    stop_worker_at("applying", rotation, worker_env, tmp_path)
    frozen = dict(rotation.frozen_policy, target={**config, "port": free_port()})  # nothing listens there
    RotationRequest.objects.filter(pk=rotation.pk).update(frozen_policy=frozen)
    assert run_rotation(rotation.pk) == State.FAILED_RETRYABLE
    rotation.refresh_from_db()
    assert rotation.resume_state == "applying" and "Connection refused" in rotation.error
    assert accepts(config, initial)  # the database still takes the old password
    RotationRequest.objects.filter(pk=rotation.pk).update(
        frozen_policy=dict(frozen, target=config), next_attempt_at=timezone.now())
    assert run_rotation(rotation.pk) == State.SUCCEEDED
    assert accepts(config, read(vault, kv_mount, "db/app")["data"]["password"]) and not accepts(config, initial)


@pytest.fixture
def aws(provider_servers):
    return provider_servers("aws")


def test_an_aws_rotation_keeps_the_new_value_pending_until_promoted(aws, role_users, monkeypatch):
    monkeypatch.setenv("SA_ROTATION_AWS_KEY", "testing")
    monkeypatch.setenv("SA_ROTATION_AWS_SECRET", "testing")
    provider = Provider.objects.create(
        kind="aws", name=f"aws-{uuid.uuid4().hex[:8]}", settings={"region": "us-east-1", "endpoint_url": aws.proxy_url},
        auth_reference={"method": "env", "variables": {"access_key_id": "SA_ROTATION_AWS_KEY",
                                                       "secret_access_key": "SA_ROTATION_AWS_SECRET"}})
    adapter = aws.make_adapter()
    name = f"rotation/{uuid.uuid4().hex[:8]}/db-password"
    adapter.create_secret(name, f"initial-{uuid.uuid4().hex}")
    assert sync_provider(provider.pk, actor="system").ok
    secret = Secret.objects.get(provider=provider, name=name)
    policy = RotationPolicy.objects.create(name="aws-policy", length=30, grace_period_hours=1)
    PolicyAssignment.objects.create(policy=policy, secret=secret)
    old = adapter.describe_secret(name).current_version
    rotation = request_rotation(secret, actor=role_users["bob"], reason="aws")
    rotation = decide_rotation(rotation, actor=role_users["charlie"], approve=True)

    assert run_rotation(rotation.pk) == State.GRACE
    rotation.refresh_from_db()
    stages = {v.version_id: set(v.stages) for v in adapter.describe_secret(name).versions}
    assert rotation.new_version == rotation.token  # AWS versions are named by the client request token
    assert stages[rotation.new_version] == {"AWSCURRENT"} and stages[old] == {"AWSPREVIOUS"}
    assert len(adapter.get_secret(name)) == 30

    RotationRequest.objects.filter(pk=rotation.pk).update(grace_until=timezone.now(), next_attempt_at=timezone.now())
    assert run_rotation(rotation.pk) == State.SUCCEEDED
    stages = {v.version_id: set(v.stages) for v in adapter.describe_secret(name).versions}
    assert stages.get(old, set()) == set() and stages[rotation.new_version] == {"AWSCURRENT"}
    secret.refresh_from_db()
    assert secret.current_version == rotation.new_version and not secret.rotating
    assert sync_provider(provider.pk, actor="system").out_of_band == []
