"""What must hold after a load-and-fault run (tests/scale/load.py), and the run's figures.

`check(stack, seeded, outcome)` returns (figures, problems); the run holds when `problems` is empty. It reads
the database, OpenBao (root token), the audit chain through `manage.py verify_audit_chain`, every replica's
access log and the users' own record of each answer:

- runs: one per rotated secret and none for the others; each settled as its policy says (succeeded, or waiting
  out its grace period), no error, attempts back at 0, old version 1 and new version 2, one approval by an
  Approver, each step succeeded exactly once, in order, and never two at a time; a step interrupted only where
  a worker was killed, on the run it held;
- audit: since the users started, exactly the events the runs and the users account for, by type and outcome
  (sign-ins, requests, approvals, lost approval races, every StepLog row's start, and the finish of every row not
  interrupted, with its step and attempt, one secret.rotation per run), and the verifier walks the whole table unbroken;
- OpenBao: every rotated secret has exactly one new version, current, 32 characters, carrying its run's token;
  the old one deleted under the revoking policy and still live under the grace policy; the others untouched;
- HTTP: no answer 5xx or failed (users' record and access logs agree), every replica served, every request and
  approval the users made is one in the database.
"""
import re
import subprocess
from collections import Counter

from tests.scale.load import percentile
from tests.scale.stack import BASE_DIR, PYTHON

STEPS = ("staging", "applying", "verifying", "promoting", "revoking_old")
VERIFIED = re.compile(r"OK: (\d+) events, chain intact through #(\d+)")
MIN_REPLICA_SHARE = 0.05


def _runs(seeded):
    from rotation.models import RotationRequest

    return list(RotationRequest.objects.filter(secret__provider_id=seeded.provider_id).select_related("secret")
                .prefetch_related("approvals__approver", "steps").order_by("pk"))


def check_runs(seeded, outcome, runs, problems):
    from rotation.models import Approval, RotationRequest, StepLog

    State = RotationRequest.State
    names = Counter(run.secret.name for run in runs)
    if sorted(names) != sorted(seeded.rotate) or any(count != 1 for count in names.values()):
        twice = sorted(name for name, count in names.items() if count > 1)
        missing = sorted(set(seeded.rotate) - set(names))
        problems.append(f"runs: {len(runs)} for {len(names)} secrets; twice: {twice[:5]}; none: {missing[:5]}")
    interrupted = outcome.fault.get("interrupted_run")
    unfinished = {}
    for run in runs:
        name, grace = run.secret.name, run.secret.name in seeded.grace
        label = f"run {run.pk} ({name})"
        expected_state = State.GRACE if grace else State.SUCCEEDED
        if run.state != expected_state or run.error or run.attempts:
            problems.append(f"{label}: {run.state}, attempts {run.attempts}, error {run.error[:200]!r}")
        if (run.old_version, run.new_version) != ("1", "2"):
            problems.append(f"{label}: versions {run.old_version!r} -> {run.new_version!r}, wanted '1' -> '2'")
        if not (run.approved_at and run.started_at and run.promoted_at) or bool(run.finished_at) == grace:
            problems.append(f"{label}: timestamps approved/started/promoted/finished missing or out of place")
        approvals = list(run.approvals.all())
        if len(approvals) != 1 or approvals[0].decision != Approval.Decision.APPROVED or \
                not approvals[0].approver.username.startswith("scale-app") or \
                not run.requested_by_name.startswith("scale-ope"):
            problems.append(f"{label}: requested by {run.requested_by_name!r}, decisions "
                            f"{[(a.approver.username, a.decision) for a in approvals]}")
        steps = sorted(run.steps.all(), key=lambda s: (s.started_at, s.pk))
        done = [s.step for s in steps if s.outcome == StepLog.Outcome.SUCCEEDED]
        if done != list(STEPS[:4] if grace else STEPS):
            problems.append(f"{label}: steps succeeded {done}")
        if any(s.outcome == StepLog.Outcome.FAILED or s.attempt for s in steps):
            problems.append(f"{label}: a step failed or was retried: {[(s.step, s.outcome, s.attempt) for s in steps]}")
        left = [s for s in steps if s.outcome != StepLog.Outcome.SUCCEEDED]  # a killed worker's step: interrupted
        if left:
            unfinished[run.pk] = left[0].step
            if run.pk != interrupted or len(left) > 1 or left[0].outcome != StepLog.Outcome.INTERRUPTED:
                problems.append(f"{label}: steps not done {[(s.step, s.outcome) for s in left]} "
                                f"(killed run: {interrupted})")
        finished = [s for s in steps if s.finished_at]
        for before, after in zip(finished, finished[1:], strict=False):
            if after.started_at < before.finished_at:
                problems.append(f"{label}: {after.step} started before {before.step} finished (two at a time)")
    figures = {"runs": len(runs), "grace_runs": sum(run.state == State.GRACE for run in runs),
               "interrupted_step": unfinished.get(interrupted, "between steps" if interrupted else None)}
    killed = next((run for run in runs if run.pk == interrupted), None)
    if killed is not None:  # how long the killed worker's run waited for the next worker (lease ended at once)
        resumed = min((s.started_at for s in killed.steps.all() if s.started_at > outcome.fault["killed_at"]),
                      default=None)
        figures["interrupted_run_resumed_after_s"] = round((resumed - outcome.fault["killed_at"]).total_seconds(), 2) \
            if resumed else None
    return figures


def check_audit(stack, seeded, outcome, runs, problems):
    from audit.models import AuditEvent
    from rotation.models import StepLog

    events = list(AuditEvent.objects.filter(sequence__gt=seeded.first_sequence).values_list(
        "event_type", "outcome", "target_id", "details"))
    found = Counter((kind, result) for kind, result, _, _ in events)
    counts = outcome.results["counts"]
    steps = [step for run in runs for step in run.steps.all()]
    expected = Counter({
        ("auth.login", "success"): counts["logins"] + outcome.idle_logins,
        ("auth.mfa_verified", "success"): counts["second_factors"],
        ("rotation.requested", "success"): counts["requested"],
        ("rotation.approved", "success"): counts["approved"],
        ("rotation.approved", "failure"): counts["lost_races"],
        ("rotation.step_started", "success"): len(steps),
        ("rotation.step_finished", "success"): sum(1 for step in steps if step.outcome == StepLog.Outcome.SUCCEEDED),
        ("secret.rotation", "success"): len(runs),
    })
    expected = +expected  # a zero count (no lost race) is no event at all
    if found != expected:
        problems.append(f"audit: events by type {dict(found)}, the runs and users account for {dict(expected)}")
    by_run = {}
    for kind, _, target, details in events:
        if kind in ("rotation.step_started", "rotation.step_finished"):
            by_run.setdefault((target, kind), Counter())[(details.get("step"), details.get("attempt"))] += 1
    for run in runs:
        logged = list(run.steps.all())
        for kind, rows in (("rotation.step_started", logged),
                           ("rotation.step_finished", [s for s in logged if s.outcome != StepLog.Outcome.INTERRUPTED])):
            if by_run.get((str(run.uuid), kind), Counter()) != Counter((s.step, s.attempt) for s in rows):
                problems.append(f"audit: run {run.pk}'s {kind} events {dict(by_run.get((str(run.uuid), kind), {}))} "
                                f"are not its StepLog rows {sorted((s.step, s.attempt) for s in rows)}")
    total = AuditEvent.objects.count()
    last = AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first()
    verified = subprocess.run([PYTHON, str(BASE_DIR / "manage.py"), "verify_audit_chain"], env=stack.env(),
                              cwd=BASE_DIR, capture_output=True, text=True, timeout=120)
    match = VERIFIED.search(verified.stdout)
    if verified.returncode != 0 or not match or (int(match[1]), int(match[2])) != (total, last):
        problems.append(f"audit: verify_audit_chain exit {verified.returncode}: {verified.stdout.strip()[:300]} "
                        f"{verified.stderr.strip()[-300:]} (table: {total} events through #{last})")
    return {"audit_events": total, "audit_events_during_run": len(events), "chain": verified.stdout.strip()}


def check_openbao(stack, seeded, runs, problems):
    from providers.adapters.vault import MARKER_PREFIX
    from tests.scale.load import bao_client

    kv = bao_client(stack).secrets.kv.v2
    tokens = {run.secret.name: str(run.uuid) for run in runs}
    for name in seeded.rotate + seeded.spare:
        path = name.split("#", 1)[0]
        meta = kv.read_secret_metadata(path, mount_point="secret")["data"]
        versions = meta["versions"]
        if name in seeded.spare:
            if meta["current_version"] != 1 or versions["1"]["deletion_time"]:
                problems.append(f"openbao: {name} (never rotated) changed: {meta['current_version']}")
            continue
        revoked = bool(versions["1"]["deletion_time"])
        marker = (meta.get("custom_metadata") or {}).get(MARKER_PREFIX + tokens.get(name, "-"))
        if meta["current_version"] != 2 or len(versions) != 2 or versions["2"]["deletion_time"] or marker != "2":
            problems.append(f"openbao: {name}: current {meta['current_version']}, versions {sorted(versions)}, "
                            f"marker {marker!r} (wanted exactly one new version, 2, current and live)")
            continue
        value = kv.read_secret_version(path, version=2, mount_point="secret",
                                       raise_on_deleted_version=True)["data"]["data"]["password"]
        if revoked == (name in seeded.grace):
            problems.append(f"openbao: {name}: old version {'revoked' if revoked else 'live'} under its policy")
        if len(value) != 32 or value == seeded.initial_values[name]:
            problems.append(f"openbao: {name}: the new value is not a fresh 32-character one")


def http_figures(stack, seeded, outcome, problems):
    results = outcome.results
    statuses = Counter()
    for by_status in results["statuses"].values():
        statuses.update({int(code): n for code, n in by_status.items()})
    served, per_replica = stack.access_log_statuses()
    bad = {code: n for code, n in statuses.items() if code >= 500 or code == 0}
    bad_served = {code: n for code, n in served.items() if code.startswith("5")}
    if bad or bad_served or results["failures"] or results["errors"]:
        problems.append(f"http: 5xx or no answer {bad}, access logs 5xx {bad_served}, failures "
                        f"{results['failures'][:10]}, errors {results['errors']}")
    total = sum(per_replica.values())
    if min(per_replica.values()) < MIN_REPLICA_SHARE * total:
        problems.append(f"http: the replicas served {per_replica} requests; one was left out")
    counts = results["counts"]
    wanted = len(seeded.rotate)
    verifying = sum(1 for account in seeded.accounts if account["otp_key"])
    if (counts["requested"], counts["approved"], counts["logins"], counts["second_factors"]) != (
            wanted, wanted, results["users"], verifying):
        problems.append(f"users: {counts} (wanted {wanted} requests and approvals, {results['users']} sign-ins, "
                        f"{verifying} second factors)")
    if results["timed_out"] or outcome.settled != wanted:
        problems.append(f"run: {outcome.settled} of {wanted} rotations settled in {outcome.seconds:.0f} s")
    by_name = {name: {"count": len(samples), "p50_ms": round(percentile(samples, 50), 1),
                      "p95_ms": round(percentile(samples, 95), 1), "max_ms": round(max(samples), 1)}
               for name, samples in sorted(results["samples"].items())}
    requests = sum(len(samples) for samples in results["samples"].values())
    return {"requests": requests, "requests_per_second": round(requests / results["seconds"], 1),
            "statuses": dict(sorted(statuses.items())), "per_replica": per_replica, "pages": by_name,
            "inventory_p95_ms": by_name.get("inventory", {}).get("p95_ms"), "lost_races": counts["lost_races"]}


def check(stack, seeded, outcome):
    problems = []
    runs = _runs(seeded)
    figures = {"seconds": round(outcome.seconds, 1), "fault": outcome.fault, "worker_exits": outcome.worker_exits,
               "cpu": outcome.cpu}
    figures.update(check_runs(seeded, outcome, runs, problems))
    figures.update(check_audit(stack, seeded, outcome, runs, problems))
    check_openbao(stack, seeded, runs, problems)
    figures.update(http_figures(stack, seeded, outcome, problems))
    return figures, problems
