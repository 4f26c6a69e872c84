"""The rotation state machine against a real OpenBao: every step, grace, retries, and idempotent re-runs."""
import json
import secrets
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from providers.registry import adapter_for
from providers.sync import sync_provider
from rotation.engine import run_rotation
from rotation.models import RotationRequest, StepLog
from rotation.policies import generate_for
from rotation.reconcile import runs_due
from rotation.services import decide_rotation, request_rotation, retry_rotation
from rotation.targets.webhook import sign
from secretsadmin.process_group import free_port
from tests.rotation.conftest import read

pytestmark = pytest.mark.django_db(transaction=True)
State = RotationRequest.State
STEPS = ["staging", "applying", "verifying", "promoting", "revoking_old"]


@pytest.fixture
def approved(secret, role_users, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):  # the test runs the job itself
        rotation = request_rotation(secret, actor=role_users["bob"], reason="quarterly")
        rotation = decide_rotation(rotation, actor=role_users["charlie"], approve=True)
    assert rotation.state == State.QUEUED
    return rotation


def test_an_approved_run_goes_through_every_step_and_revokes_the_old_version(vault, kv_mount, secret, approved):
    before = read(vault, kv_mount, "app/db")
    assert run_rotation(approved.pk) == State.SUCCEEDED
    approved.refresh_from_db()
    assert (approved.old_version, approved.new_version) == ("1", "2")
    assert approved.finished_at and approved.promoted_at and approved.claimed_by == ""
    after = read(vault, kv_mount, "app/db")
    new_value = after["data"]["password"]
    assert after["metadata"]["version"] == 2 and new_value != before["data"]["password"] and len(new_value) == 24
    assert after["data"]["user"] == "app"  # the other keys of the path are kept
    versions = vault.root.secrets.kv.v2.read_secret_metadata("app/db", mount_point=kv_mount)["data"]["versions"]
    assert versions["1"]["deletion_time"] and not versions["2"]["deletion_time"]
    secret.refresh_from_db()
    assert secret.current_version == "2" and secret.last_rotated_at and not secret.rotating
    assert [(s.step, s.outcome) for s in StepLog.objects.filter(request=approved)] == [(s, "succeeded") for s in STEPS]
    events = list(AuditEvent.objects.filter(target_id=str(approved.uuid)).values_list("event_type", "outcome"))
    assert events.count(("rotation.step_started", "success")) == 5
    assert events.count(("rotation.step_finished", "success")) == 5
    assert ("secret.rotation", "success") in events
    # Step events in the order they happened, each naming its own step, in the details and in the target's text
    # (not the state a finish has already moved the run to; the events of one commit are written together).
    steps = list(AuditEvent.objects.filter(target_id=str(approved.uuid), event_type__startswith="rotation.step_")
                 .order_by("sequence").values_list("event_type", "details__step", "target_text"))
    assert [(kind, step) for kind, step, _ in steps] == [
        (kind, step) for step in STEPS for kind in ("rotation.step_started", "rotation.step_finished")]
    assert all(text == f"rotation of {secret} ({State(step).label})" for _, step, text in steps)
    # The value is nowhere in the database.
    assert new_value not in str(list(AuditEvent.objects.values())) + str(list(RotationRequest.objects.values()))
    # The next sync sees SecretsAdmin's own rotation, not an out-of-band change.
    assert sync_provider(secret.provider_id, actor="system").out_of_band == []


@pytest.fixture
def boundaries(monkeypatch):
    """The step boundaries runs commit, in order, as (state before, state after) of each."""
    from rotation import engine

    moved, record_many = [], engine.audit.record_many

    def recording(events, *, actor, change):
        moved.append((change.where["state"], change.values["state"]))
        return record_many(events, actor=actor, change=change)

    monkeypatch.setattr(engine.audit, "record_many", recording)
    return moved


def test_with_no_target_apply_is_done_in_passing_with_its_row_and_events(secret, approved, boundaries):
    assert run_rotation(approved.pk) == State.SUCCEEDED
    # No commit between staging's end and verify: apply makes no external call for a write-ahead to precede.
    assert boundaries == [(State.QUEUED, State.STAGING), (State.STAGING, State.VERIFYING),
                          (State.VERIFYING, State.PROMOTING), (State.PROMOTING, State.REVOKING_OLD),
                          (State.REVOKING_OLD, State.SUCCEEDED)]
    staged, applied = StepLog.objects.filter(request=approved)[:2]
    assert (applied.step, applied.outcome, applied.attempt) == (State.APPLYING, "succeeded", 0)
    assert applied.detail == "No target: consumers read the secret manager"
    assert applied.started_at == applied.finished_at == staged.finished_at


def test_the_old_version_outlives_the_grace_period_then_is_revoked(vault, kv_mount, secret, approved):
    approved.frozen_policy["grace_period_hours"] = 1
    RotationRequest.objects.filter(pk=approved.pk).update(frozen_policy=approved.frozen_policy)
    assert run_rotation(approved.pk) == State.GRACE
    metadata = vault.root.secrets.kv.v2.read_secret_metadata("app/db", mount_point=kv_mount)["data"]
    assert metadata["current_version"] == 2 and not metadata["versions"]["1"]["deletion_time"]
    assert not runs_due(timezone.now()).filter(pk=approved.pk).exists()  # nobody wakes it early
    assert run_rotation(approved.pk) == "not claimed"
    RotationRequest.objects.filter(pk=approved.pk).update(grace_until=timezone.now() - timedelta(seconds=1),
                                                          next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert runs_due(timezone.now()).filter(pk=approved.pk).exists()
    assert run_rotation(approved.pk) == State.SUCCEEDED
    metadata = vault.root.secrets.kv.v2.read_secret_metadata("app/db", mount_point=kv_mount)["data"]
    assert metadata["versions"]["1"]["deletion_time"]


def test_a_step_repeated_after_a_crash_reuses_the_staged_version(vault, kv_mount, secret, approved):
    # As if a worker staged the value and died before recording it: the state still says "staging".
    RotationRequest.objects.filter(pk=approved.pk).update(state=State.STAGING, old_version="1")
    staged_value = generate_for(approved.frozen_policy)
    adapter_for(secret.provider).stage_version(secret.name, staged_value, approved.token)
    assert run_rotation(approved.pk) == State.SUCCEEDED
    after = read(vault, kv_mount, "app/db")
    # Exactly one new version, holding the value staged before the "crash", not a second generated one.
    assert after["metadata"]["version"] == 2 and after["data"]["password"] == staged_value


def test_verification_refuses_a_staged_value_the_policy_would_not_generate(vault, kv_mount, secret, approved):
    RotationRequest.objects.filter(pk=approved.pk).update(state=State.STAGING, old_version="1")
    adapter_for(secret.provider).stage_version(secret.name, "short-value", approved.token)
    assert run_rotation(approved.pk) == State.NEEDS_ATTENTION
    approved.refresh_from_db()
    assert approved.resume_state == State.VERIFYING and "length" in approved.error
    # Never promoted past a failed verification, and the old version was not revoked.
    metadata = vault.root.secrets.kv.v2.read_secret_metadata("app/db", mount_point=kv_mount)["data"]
    assert not metadata["versions"]["1"]["deletion_time"]
    assert approved.promoted_at is None


def test_a_provider_outage_is_retried_then_resumes(vault, kv_mount, secret, approved):
    vault.faults.fail_next(503, count=1000)
    try:
        assert run_rotation(approved.pk) == State.FAILED_RETRYABLE
    finally:
        vault.faults.clear()
    approved.refresh_from_db()
    assert approved.resume_state == State.STAGING and approved.attempts == 1 and approved.next_attempt_at
    assert "NetworkError" in approved.error
    assert run_rotation(approved.pk) == "not claimed"  # not before its time
    RotationRequest.objects.filter(pk=approved.pk).update(next_attempt_at=timezone.now())
    assert run_rotation(approved.pk) == State.SUCCEEDED
    assert read(vault, kv_mount, "app/db")["metadata"]["version"] == 2


def test_after_max_attempts_the_run_needs_attention_until_retried(vault, kv_mount, secret, approved, settings,
                                                                   role_users):
    settings.ROTATION_MAX_ATTEMPTS = 2
    settings.ROTATION_RETRY_BASE_SECONDS = 0
    settings.ROTATION_RETRY_MAX_SECONDS = 0
    vault.faults.fail_next(503, count=1000)
    try:
        # No backoff: the worker retries at once, and stops after the second failure.
        assert run_rotation(approved.pk) == State.NEEDS_ATTENTION
        assert run_rotation(approved.pk) == "not claimed"  # never loops for ever
        failed = StepLog.objects.filter(request=approved, outcome="failed")
        assert failed.count() == 2 and {s.step for s in failed} == {"staging"}
    finally:
        vault.faults.clear()
    assert AuditEvent.objects.filter(event_type="rotation.needs_attention", target_id=str(approved.uuid)).exists()
    retry_rotation(approved, actor=role_users["charlie"])
    assert run_rotation(approved.pk) == State.SUCCEEDED


def test_a_webhook_target_is_told_of_the_new_version_with_a_signed_request(vault, kv_mount, secret, approved,
                                                                             monkeypatch, boundaries):
    received = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", free_port()), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    shared = secrets.token_hex(16)
    monkeypatch.setenv("SA_WEBHOOK_TEST_HMAC", shared)
    frozen = dict(approved.frozen_policy, target={"kind": "webhook", "hmac_secret_env": "SA_WEBHOOK_TEST_HMAC",
                                                  "url": f"http://127.0.0.1:{server.server_port}/rotated"})
    RotationRequest.objects.filter(pk=approved.pk).update(frozen_policy=frozen)
    try:
        assert run_rotation(approved.pk) == State.SUCCEEDED
    finally:
        server.shutdown()
    # The webhook is an external call: apply's start is committed before it, as every step's is.
    assert (State.STAGING, State.APPLYING) in boundaries and (State.APPLYING, State.VERIFYING) in boundaries
    assert len(received) == 1
    headers, body = received[0]
    assert headers["X-SecretsAdmin-Request-Id"] == str(approved.uuid)
    assert headers["X-SecretsAdmin-Signature"] == sign(shared.encode(), headers["X-SecretsAdmin-Timestamp"], body)
    payload = json.loads(body)
    assert payload["version"] == "2" and payload["secret"] == secret.name
    assert read(vault, kv_mount, "app/db")["data"]["password"] not in body.decode()
