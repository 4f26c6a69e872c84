"""The rotation state machine a worker runs: stage -> apply -> verify -> promote -> grace -> revoke old.

Rules (ARCHITECTURE.md, "Rotation: crash-safe by construction"): the state names the step in progress and is
committed before that step's external call; every step first checks whether it was already done, so running
a step twice is harmless; a worker holds a lease on the run (a conditional UPDATE), so one run never has two
workers and a killed worker's lease simply lapses; the generated value lives only in the provider (later
steps read it back by version), never in the database; the old version is revoked only after the new one
was verified, promoted and its grace period passed.

Each step boundary is one commit: the run's conditional UPDATE, the StepLog row of the step that ended (one row per
attempt, written at its end; the step in progress is the run's state and step_started_at) and the audit events of
both, with the inventory rows the boundary changes (the secret's rotating flag as staging starts, its versions as
promote ends) - bookkeeping is most of a rotation's cost when the provider answers in a millisecond (bench/). On
PostgreSQL a boundary is a single prepared statement (audit.record_many with the transition as its change), the
first one also the claim of a run not started yet. A step with nothing to do outside (apply, with no target) needs no
write-ahead: it starts and ends within the boundary that ends the step before it.
"""
import contextlib
import logging
import os
import socket
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

import audit
from providers.adapters.base import NetworkError, NotFound, SecretError
from providers.registry import adapter_for
from rotation import metrics, notifications, run_rows
from rotation.models import RotationRequest, StepLog
from rotation.policies import GeneratorError, generate_for
from rotation.retry import retry_delay
from rotation.targets import target_for
from rotation.targets.base import TargetConfigError, TargetContext, TargetError
from secretsadmin.metrics import SecretMetrics

log = logging.getLogger("secretsadmin.rotation")
State = RotationRequest.State
INTERRUPTED = StepLog.Outcome.INTERRUPTED
RESUMED_DETAIL = "The worker running this step stopped before it finished; the run was taken over, the step rerun."
NO_VERSION = "(none)"  # the secret had no current version before the run (nothing to revoke)
NEXT = {State.STAGING: State.APPLYING, State.APPLYING: State.VERIFYING, State.VERIFYING: State.PROMOTING,
        State.PROMOTING: State.GRACE, State.REVOKING_OLD: State.SUCCEEDED}


class LostClaim(Exception):
    """Another worker holds the run now (our lease lapsed); stop without touching it."""


class VerificationFailed(Exception):
    """The staged value is not what was written, or the target does not accept it."""


def worker_name():
    return f"{socket.gethostname()}:{os.getpid()}"


def pause_point(name):
    """Fault tests stop a worker here (SECRETSADMIN_ROTATION_PAUSE_AT, honoured in the test environment only)."""
    if settings.ROTATION_PAUSE_AT and name == settings.ROTATION_PAUSE_AT:
        Path(settings.ROTATION_PAUSE_DIR, name).touch()
        while True:  # until the test kills this worker
            time.sleep(1)


def run_rotation(request_id):
    """Carry the run as far as it can go now; returns the state it was left in (or why nothing happened)."""
    return Runner(request_id).run()


class Runner:
    """One worker's pass over one run. The row is loaded once, after the claim, and kept in step with every
    write this runner makes; each write is conditional on the lease and on the state it expects, so a change
    by anyone else (another worker, a cancellation) shows up as LostClaim rather than going unnoticed."""

    def __init__(self, request_id):
        self.request_id = request_id
        self.name = worker_name()
        self.generated = None  # the value this process staged, if it did: verify compares against it
        self.adapter = None
        self.step_started = None  # when this runner started the step in progress (its row is written at its end)
        self.events = None  # audit events of the transaction in progress (see commit())
        self.change = None  # the run's transition in it, made with the events (see commit())
        self.released = False

    # -- the lease ----------------------------------------------------------------------------------
    def _mine(self):
        return RotationRequest.objects.filter(pk=self.request_id, claimed_by=self.name)

    def _lease(self, now):
        return now + timedelta(seconds=settings.ROTATION_LEASE_SECONDS)

    def claim(self, state):
        """The lease on the run, if it is claimable now and still in `state` (a runnable one)."""
        now = timezone.now()
        return run_rows.update_run(self.request_id, {"state": state},
                                   {"claimed_by": self.name, "claimed_until": self._lease(now)}, claim_at=now)

    def release(self, **fields):
        self._mine().update(claimed_by="", claimed_until=None, **fields)
        self.released = True

    def load(self):
        return RotationRequest.objects.select_related("secret__provider").filter(pk=self.request_id).first()

    def take(self):
        """The run, claimed: a run not started yet is claimed by the conditional UPDATE that starts it (one commit,
        not two); any other runnable run by claim(), then read again as it is now that it is ours. None if the run
        is not to be had (gone, final, claimed by a live worker, backing off, or changed meanwhile)."""
        rotation = self.load()
        if rotation is None or rotation.state not in RotationRequest.RUNNABLE_STATES:
            return None
        if rotation.state in (State.APPROVED, State.QUEUED):
            return rotation if self.start(rotation) else None
        return self.load() if self.claim(rotation.state) else None

    def start(self, rotation):
        try:
            self.move(rotation, State.STAGING, claiming=True, started_at=timezone.now(),
                      **self.old_version_fields(rotation))
        except LostClaim:
            return False
        return True

    # -- the loop -------------------------------------------------------------------------------------
    def run(self):
        pause_point("claim.before")
        rotation = self.take()
        if rotation is None:
            return "not claimed"
        try:
            while True:
                state = rotation.state
                if state == State.FAILED_RETRYABLE:
                    if rotation.next_attempt_at and rotation.next_attempt_at > timezone.now():
                        return state  # backing off: the reconciler brings it back when the time comes
                    self.move(rotation, rotation.resume_state or State.STAGING, next_attempt_at=None)
                elif state == State.GRACE:
                    if rotation.grace_until and rotation.grace_until > timezone.now():
                        # A scheduled continuation, not a sleeping worker: the reconciler picks it up.
                        self.release(next_attempt_at=rotation.grace_until)
                        return state
                    self.move(rotation, State.REVOKING_OLD, next_attempt_at=None)
                elif state in NEXT:
                    if self.step_started is None:
                        # Picked up at a step another attempt had started (a killed worker's run): a new attempt.
                        self.resume_interrupted(rotation)
                    self.run_step(rotation)
                else:
                    return state
        except LostClaim:
            log.warning("rotation %s: lease lost to another worker; stopping", self.request_id)
            return "lost claim"
        finally:
            if not self.released:
                self.release()

    def transition(self, rotation, state, now, ended=None, claiming=False, secret=None, siblings=None, passed=None,
                   **fields):
        """The conditional UPDATE to `state` (it renews the lease; a final state gives it up), mirrored in memory.
        `ended`: (step, attempt, outcome, detail) of the step this transition ends, whose StepLog row it writes;
        `passed`: (step, detail) of a step done in passing after it (nothing to do outside), whose row it writes too.
        `claiming`: the lease is taken by this UPDATE (the run must be claimable), not already held.
        `secret`: {field: value} of the run's secret, written with it; `siblings`: (provider id, name prefix,
        {field: value}) of the secrets sharing its version history, written with it (run_rows.RunTransition)."""
        values = {"state": state, "updated_at": now, "claimed_until": self._lease(now), **fields}
        if claiming:
            values["claimed_by"] = self.name
        if state in NEXT:
            values["step_started_at"] = now  # the run page shows the step in progress from the run itself
        if state in RotationRequest.FINAL_STATES:
            values.update(claimed_by="", claimed_until=None)
        step_row = (*ended, self.step_started, now) if ended else None
        where = {"state": rotation.state} if claiming else {"claimed_by": self.name, "state": rotation.state}
        later = [(passed[0], 0, StepLog.Outcome.SUCCEEDED, passed[1], now, now)] if passed else []
        change = run_rows.RunTransition(self.request_id, where, values, step=step_row,
                                        claim_at=now if claiming else None,
                                        secret=(rotation.secret_id, secret) if secret else None, siblings=siblings,
                                        later_steps=later)
        self.change = change  # made with the boundary's audit events, as commit() ends
        if ended:
            self.step_started = None
        for name, value in values.items():
            setattr(rotation, name, value)

    def record_start(self, rotation):
        """The audit event of the step `rotation` has just entered (inside the caller's commit()). Its StepLog row is
        written once, when the step ends: one statement per step instead of an insert and an update."""
        self.step_started = rotation.step_started_at
        self._audit("rotation.step_started", rotation, step=rotation.state, attempt=rotation.attempts)

    def resume_interrupted(self, rotation):
        """The attempt that started this step ended without a word (its worker was killed, or lost its lease):
        its row says so, and a new attempt of the step starts, in one commit (which renews the lease)."""
        now = timezone.now()
        with self.commit():
            self.step_started = rotation.step_started_at or rotation.updated_at
            self.transition(rotation, rotation.state, now, ended=(rotation.state, rotation.attempts, INTERRUPTED,
                                                                  RESUMED_DETAIL))
            self.record_start(rotation)

    def old_version_fields(self, rotation):
        """Write-ahead for staging, read before the run enters it so that one commit records both: which version is
        "old", before the provider has a new version to confuse it with. When the provider cannot say now, staging
        asks again itself (and fails, and retries, as a step does)."""
        if rotation.old_version:
            return {}
        try:
            return {"old_version": self._current_version(rotation)}
        except Exception:  # the step meets the same error again, where failures are handled
            return {}

    def _current_version(self, rotation):
        return self._adapter(rotation).describe_secret(rotation.secret.name).current_version or NO_VERSION

    @contextlib.contextmanager
    def commit(self):
        """One step boundary, all or nothing, as it ends: the run's transition() (and the secret rows it writes) with
        the audit events _audit() collected (audit.record_many's change: one statement on PostgreSQL, a transaction
        elsewhere). Nothing is written until then; a transition another worker or a cancellation got in before is
        LostClaim."""
        self.events, self.change = [], None
        yield
        # Every boundary records at least one event (a step's start or finish), so the change always goes with them.
        made = audit.record_many(self.events, actor="worker", change=self.change) is not None
        self.events = self.change = None
        if not made:
            raise LostClaim(self.request_id)

    def move(self, rotation, state, claiming=False, **fields):
        """A bookkeeping transition (no external call); entering a step records its start in the same commit."""
        # From the first staging until promote (or cancel) the next sync must not call the provider's changes drift.
        first_staging = state == State.STAGING and not rotation.old_version  # not a retry of staging
        with self.commit():
            self.transition(rotation, state, timezone.now(), claiming=claiming,
                            secret={"rotating": True} if first_staging else None, **fields)
            if state in NEXT:
                self.record_start(rotation)

    # -- one step ------------------------------------------------------------------------------------
    def run_step(self, rotation):
        step = rotation.state
        started = time.monotonic()
        pause_point(f"{step}.before")
        try:
            fields = getattr(self, f"do_{step}")(rotation)
        except LostClaim:
            raise
        except Exception as exc:
            metrics.step_finished(rotation, step, "failure", time.monotonic() - started)
            self.fail(rotation, exc)
            return
        pause_point(f"{step}.after")
        self.finish(rotation, step, fields)
        metrics.step_finished(rotation, step, "success", time.monotonic() - started)

    def finish(self, rotation, step, fields):
        """One commit: the step's result, its finish (StepLog, audit), and the next step's state and start."""
        now = timezone.now()
        attempt, state = rotation.attempts, NEXT[step]
        if state == State.GRACE and fields["grace_until"] <= now:
            state = State.REVOKING_OLD  # no grace period to wait out: straight on to revoking the old version
        passed = self._apply_in_passing(rotation) if state == State.APPLYING else None
        if passed:  # nothing to apply anywhere, so no write-ahead to make: apply starts and ends in this commit
            state = State.VERIFYING
        promoted = step == State.PROMOTING
        secret, siblings = self.promoted_inventory(rotation, fields) if promoted else (None, None)
        with self.commit():
            self.transition(rotation, state, now, ended=(step, attempt, StepLog.Outcome.SUCCEEDED, ""), attempts=0,
                            error="", secret=secret, siblings=siblings, passed=passed, **fields)
            self._audit("rotation.step_finished", rotation, step=step, attempt=attempt)
            if passed:
                self._audit("rotation.step_started", rotation, step=passed[0], attempt=0)
                self._audit("rotation.step_finished", rotation, step=passed[0], attempt=0)
            if promoted:
                self._audit("secret.rotation", rotation, new_version=rotation.new_version,
                            old_version=rotation.old_version)
            if state in NEXT:
                self.record_start(rotation)
        self.released = state in RotationRequest.FINAL_STATES
        if promoted:
            SecretMetrics.record_secret_rotation(rotation.secret.name, True, rotation.secret.provider.name)
        if passed:
            metrics.step_finished(rotation, passed[0], "success", 0.0)
        if self.released:
            notifications.run_finished(rotation)

    def fail(self, rotation, exc):
        step, attempt = rotation.state, rotation.attempts
        transient = isinstance(exc, NetworkError) or (isinstance(exc, TargetError) and exc.transient)
        attempts = rotation.attempts + 1
        message = _describe(exc)
        gives_up = not transient or attempts >= settings.ROTATION_MAX_ATTEMPTS
        state = State.NEEDS_ATTENTION if gives_up else State.FAILED_RETRYABLE
        now = timezone.now()
        next_attempt = None if gives_up else now + timedelta(seconds=retry_delay(attempts))
        if not transient and not isinstance(exc, SecretError | TargetError | VerificationFailed | GeneratorError
                                                | TargetConfigError):
            log.exception("rotation %s: unexpected error in step %s", self.request_id, step)
        with self.commit():
            self.transition(rotation, state, now, ended=(step, attempt, StepLog.Outcome.FAILED, message),
                            resume_state=step, attempts=attempts, error=message, next_attempt_at=next_attempt)
            self._audit("rotation.step_finished", rotation, outcome="failure", failure_reason=message,
                        step=step, attempt=attempts, will_retry=not gives_up)
            if gives_up:
                self._audit("rotation.needs_attention", rotation, outcome="failure", failure_reason=message,
                            step=step, attempts=attempts)
                self._audit("secret.rotation", rotation, outcome="failure", failure_reason=message)
                SecretMetrics.record_secret_rotation(rotation.secret.name, False, rotation.secret.provider.name)
        if gives_up:
            notifications.run_finished(rotation)
        # Otherwise the reconciler re-enqueues the run once next_attempt_at has passed.

    def _audit(self, event_type, rotation, *, outcome="success", failure_reason="", **details):
        """Queue an event for the commit() in progress (appended with the rest of that transaction's events)."""
        # Named by the step the event is about, not by str(rotation)'s state: a step's finish is recorded after the
        # run moved on, and "(Applying to target)" on the finish of staging would mislead.
        step = details.get("step")
        text = f"rotation of {rotation.secret}" + (f" ({State(step).label})" if step else "")
        target = (rotation._meta.label_lower, str(rotation.uuid), text)
        self.events.append((event_type, {
            "target": target, "provider": rotation.secret.provider.name, "secret_name": rotation.secret.name,
            "outcome": outcome, "failure_reason": failure_reason,
            "details": {**details, "request": str(rotation.uuid), "trigger": rotation.trigger}}))

    # -- the steps: external calls only; each first checks whether it already happened ------------------
    def _adapter(self, rotation):
        # One adapter (one SDK client and its connection pool) for the whole run, not one per step.
        if self.adapter is None:
            self.adapter = adapter_for(rotation.secret.provider)
        return self.adapter

    def _apply_in_passing(self, rotation):
        """(step, detail) of the apply step when it has nothing to do outside (a target of kind none), else None."""
        try:
            target = target_for(rotation.frozen_policy.get("target") or {})
        except TargetConfigError:
            return None  # the apply step runs and reports the bad configuration, as it always has
        return None if target.apply_has_effect else (State.APPLYING, target.describe())

    def _context(self, rotation):
        return TargetContext(request_id=str(rotation.uuid), secret_name=rotation.secret.name,
                             provider=rotation.secret.provider.name, new_version=rotation.new_version)

    def do_staging(self, rotation):
        adapter, name = self._adapter(rotation), rotation.secret.name
        if not rotation.old_version:
            # Write-ahead: remember what "old" is before the provider has a new version to confuse it with.
            current = self._current_version(rotation)
            if not self._mine().update(old_version=current):
                raise LostClaim(self.request_id)
            rotation.old_version = current
        value = generate_for(rotation.frozen_policy)
        staged = adapter.stage_version(name, value, rotation.token)
        # A repeat (created=False) returns the version staged by an earlier attempt, whose value is not ours.
        self.generated = value if staged.created else None
        return {"new_version": staged.version_id}

    def do_applying(self, rotation):
        value = self._adapter(rotation).get_secret_version(rotation.secret.name, rotation.new_version)
        target, context = target_for(rotation.frozen_policy.get("target") or {}), self._context(rotation)
        if not target.is_applied(value, context):
            target.apply(value, context)
        return {}

    def do_verifying(self, rotation):
        adapter, name = self._adapter(rotation), rotation.secret.name
        value = adapter.get_secret_version(name, rotation.new_version)
        if self.generated is not None and value != self.generated:
            raise VerificationFailed("the provider returned a different value for the staged version")
        length = (rotation.frozen_policy.get("generator") or {}).get("length")
        if length and len(value) != length:
            raise VerificationFailed("the staged version does not have the policy's length")
        versions = {v.version_id: v for v in adapter.describe_secret(name).versions}
        version = versions.get(rotation.new_version)
        if versions and (version is None or not version.enabled):
            raise VerificationFailed("the staged version is missing or disabled in the provider")
        if version is not None and version.rotation_token and version.rotation_token != rotation.token:
            raise VerificationFailed("the staged version carries another rotation's token")
        target_for(rotation.frozen_policy.get("target") or {}).verify(value, self._context(rotation))
        return {}

    def do_promoting(self, rotation):
        adapter, name = self._adapter(rotation), rotation.secret.name
        adapter.promote_version(name, rotation.new_version)
        self.promoted = adapter.describe_secret(name)
        grace = timedelta(hours=rotation.frozen_policy.get("grace_period_hours", 0))
        now = timezone.now()
        return {"promoted_at": now, "grace_until": now + grace, "next_attempt_at": None}

    def promoted_inventory(self, rotation, fields):
        """The inventory's side of promote, written in the commit that records it: the secret's version and times as
        the provider now reports them, so the next sync sees no out-of-band change, and (secret, siblings) for
        transition(): the rows sharing its version history moved with it, their values unchanged: not drift."""
        described = self.promoted
        current = (described.current_version or rotation.new_version)[:256]
        updated = described.updated_at or fields["promoted_at"]
        secret = {"current_version": current, "provider_updated_at": updated, "last_rotated_at": fields["promoted_at"],
                  "rotating": False}
        group = self._adapter(rotation).version_group(rotation.secret.name)
        siblings = (rotation.secret.provider_id, group, {"current_version": current, "provider_updated_at": updated})
        return secret, siblings if group else None

    def do_revoking_old(self, rotation):
        old = rotation.old_version
        if old and old not in (NO_VERSION, rotation.new_version):
            # NotFound: revoked by an earlier attempt (or by hand); the goal holds.
            with contextlib.suppress(NotFound):
                self._adapter(rotation).revoke_version(rotation.secret.name, old)
        return {"finished_at": timezone.now()}


def _describe(exc):
    """One line for the run page and the audit log. Our errors never carry values; others show only their type."""
    if isinstance(exc, SecretError | TargetError | VerificationFailed | GeneratorError | TargetConfigError):
        return f"{type(exc).__name__}: {exc}"[:2000]
    return f"unexpected {type(exc).__name__} (see the worker log)"
