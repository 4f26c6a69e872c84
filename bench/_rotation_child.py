"""The Django children of bench/rotation_throughput.py: `python -m bench._rotation_child COMMAND ARGS`.

setup (the provider, 2n secrets in OpenBao, the inventory, the policy), raw (the provider calls of a rotation's
steps through one adapter), enqueue (n auto-approved scheduled runs, one transaction each or all in one),
latency (one run at a time), collect (a round's runs and step times). Each prints one JSON line.
"""
import json
import os
import statistics
import sys
import time
from contextlib import nullcontext

TOKEN_VAR = "BENCH_ROTATION_BAO_TOKEN"
PROVIDER = "bench-openbao"
POLICY = "bench-rotation"


def app_name(i):
    return f"bench/app-{i:04d}#password"


def raw_name(i):
    return f"bench/raw-{i:04d}#password"


def setup(bao_url, n):
    """The provider, 2n secrets in OpenBao and the inventory, the policy on the provider."""
    from providers.models import Secret
    from providers.registry import adapter_for
    from providers.services import create_provider
    from providers.sync import sync_provider
    from rotation.models import PolicyAssignment, RotationPolicy

    start = time.perf_counter()
    provider = create_provider(actor="system", name=PROVIDER, kind="vault", description="benchmark OpenBao",
                               settings={"address": bao_url, "mount": "secret"},
                               auth_reference={"method": "env", "variables": {"token": TOKEN_VAR}})
    adapter = adapter_for(provider)
    for i in range(n):
        adapter.create_secret(app_name(i), os.urandom(12).hex())  # generated now: no reusable credential
        adapter.create_secret(raw_name(i), os.urandom(12).hex())
    result = sync_provider(provider.pk, actor="system")
    if result is None or not result.ok:
        raise SystemExit(f"bench: the first sync failed: {getattr(result, 'error', 'not claimed')}")
    policy = RotationPolicy.objects.create(name=POLICY, length=32, grace_period_hours=0, auto_approve_scheduled=True,
                                           target={})
    PolicyAssignment.objects.create(policy=policy, provider=provider)
    return {"secrets": Secret.objects.filter(provider=provider).count(), "seconds": time.perf_counter() - start}


def raw(n):
    """The provider calls of each step of a rotation, through one adapter, timed per rotation and per step."""
    import uuid

    from providers.models import Provider
    from providers.registry import adapter_for
    from rotation.engine import NO_VERSION
    from rotation.policies import generate_secure_secret

    adapter = adapter_for(Provider.objects.get(name=PROVIDER))
    totals = {"staging": 0.0, "applying": 0.0, "verifying": 0.0, "promoting": 0.0, "revoking_old": 0.0}
    samples = []
    for i in range(n):
        name, token = raw_name(i), str(uuid.uuid4())
        marks = [time.perf_counter()]
        old = adapter.describe_secret(name).current_version or NO_VERSION
        value = generate_secure_secret(32)
        new = adapter.stage_version(name, value, token).version_id
        marks.append(time.perf_counter())  # apply: none (the policy has no target, so the worker reads nothing)
        marks.append(time.perf_counter())
        if adapter.get_secret_version(name, new) != value or not adapter.describe_secret(name).versions:
            raise SystemExit("bench: the raw rotation read back another value")
        marks.append(time.perf_counter())
        adapter.promote_version(name, new)
        adapter.describe_secret(name)
        marks.append(time.perf_counter())
        if old not in (NO_VERSION, new):
            adapter.revoke_version(name, old)
        marks.append(time.perf_counter())
        samples.append(marks[-1] - marks[0])
        for step, (a, b) in zip(totals, zip(marks, marks[1:], strict=False), strict=True):
            totals[step] += b - a
    return {"seconds": samples, "steps": {step: total / n * 1000 for step, total in totals.items()}}


def _secrets(n):
    from providers.models import Secret

    secrets = list(Secret.objects.select_related("provider").filter(provider__name=PROVIDER,
                                                                    name__startswith="bench/app-").order_by("name"))
    if len(secrets) < n:
        raise SystemExit(f"bench: {len(secrets)} app secrets in the inventory, {n} wanted")
    return secrets[:n]


def enqueue(tag, n, together=False):
    """n queued, auto-approved scheduled runs, each enqueued on RQ when its transaction commits; `together`: all
    in one transaction, so the n jobs reach the queue in one burst at its commit (for workers already waiting)."""
    from django.db import transaction

    from rotation.models import RotationPolicy
    from rotation.services import request_scheduled_rotation

    policy = RotationPolicy.objects.get(name=POLICY)
    secrets = _secrets(n)
    start = time.perf_counter()
    with transaction.atomic() if together else nullcontext():
        for secret in secrets:
            request_scheduled_rotation(secret, policy, reason=f"bench {tag}")
    return {"runs": n, "seconds": time.perf_counter() - start}


def latency(tag, runs, warmup, n):
    """File one run, wait until it is final, file the next (the first `warmup` under another reason)."""
    from rotation.models import RotationPolicy, RotationRequest
    from rotation.services import request_scheduled_rotation

    policy = RotationPolicy.objects.get(name=POLICY)
    secrets = _secrets(n)
    done = (*RotationRequest.FINAL_STATES, RotationRequest.State.NEEDS_ATTENTION,
            RotationRequest.State.FAILED_RETRYABLE)
    for i in range(warmup + runs):
        reason = f"bench {tag}" if i >= warmup else f"bench {tag} warm-up"
        rotation = request_scheduled_rotation(secrets[i % len(secrets)], policy, reason=reason)
        deadline = time.monotonic() + 120
        while RotationRequest.objects.filter(pk=rotation.pk).values_list("state", flat=True).get() not in done:
            if time.monotonic() > deadline:
                raise SystemExit(f"bench: run {rotation.pk} did not finish within 120 s")
            time.sleep(0.02)
    return {"runs": runs}


def collect(tag):
    """The round's runs (timestamps as epoch seconds) and the mean milliseconds of each step (StepLog)."""
    from rotation.models import RotationRequest, StepLog

    def epoch(moment):
        return moment.timestamp() if moment else None

    rows = RotationRequest.objects.filter(reason=f"bench {tag}").select_related("secret").order_by("pk")
    runs = [{"secret": row.secret.name, "state": row.state, "error": row.error, "approved": epoch(row.approved_at),
             "enqueued": epoch(row.enqueued_at), "started": epoch(row.started_at), "promoted": epoch(row.promoted_at),
             "finished": epoch(row.finished_at)} for row in rows]
    means = {}
    for entry in StepLog.objects.filter(request__reason=f"bench {tag}", finished_at__isnull=False).order_by("pk"):
        means.setdefault(entry.step, []).append((entry.finished_at - entry.started_at).total_seconds() * 1000)
    return {"runs": runs, "steps": {step: statistics.fmean(values) for step, values in means.items()}}


def main(argv):
    import django

    django.setup()
    command, args = argv[0], argv[1:]
    if command == "setup":
        result = setup(args[0], int(args[1]))
    elif command == "raw":
        result = raw(int(args[0]))
    elif command == "enqueue":
        result = enqueue(args[0], int(args[1]), together=args[2:] == ["together"])
    elif command == "latency":
        result = latency(args[0], int(args[1]), int(args[2]), int(args[3]))
    elif command == "collect":
        result = collect(args[0])
    else:
        raise SystemExit(f"bench: unknown child command {command}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
