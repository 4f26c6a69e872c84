"""Data for bench/metrics_scrape.py, run inside Django processes (a fill child, and RQ work-horses).

    python -m bench._metrics fill N     providers, N secrets, a rotation policy, rotation requests in every
                                        state and a ChainVerification row; prints facts as one JSON line
    record_activity(seed)               an RQ job: counts retrievals, rotations, errors and observes timers
                                        for a few hundred secret names, as a busy worker process would

Both inventories (1,000 and 100,000 secrets) hold the same first 1,000 secret names, and the activity only
names secrets among those, so the two benchmark stacks expose the same metric series: what differs
between their scrapes is the size of the inventory alone.
"""
import json
import random
import sys
import time

from bench.inventory_page import ENVIRONMENTS, KINDS, SERVICES, TEAMS

PROVIDER_KINDS = ("aws", "vault", "azure", "gcp", "aws")
PROVIDER_NAMES = tuple(f"bench-{kind}-{i}" for i, kind in enumerate(PROVIDER_KINDS))
BATCH_SIZE = 5_000
NAME_POOL = 1_000  # activity names secrets among the first NAME_POOL of every inventory
NAMES_PER_JOB = 300
ROTATION_REQUESTS = 60
OPERATIONS = ("get_secret", "put_secret", "list_secrets", "describe_secret", "rotate")
STEPS = ("generate", "store", "deploy", "verify", "revoke-old")


def secret_name(i):
    environment, service = ENVIRONMENTS[i % len(ENVIRONMENTS)], SERVICES[i // 4 % len(SERVICES)]
    return f"{environment}/{service}/{KINDS[i // 44 % len(KINDS)]}-{i:06d}"


def provider_of(i):
    return PROVIDER_NAMES[i % len(PROVIDER_NAMES)]


# ---------------------------------------------------------------- the fill child


def fill(secrets):
    from datetime import UTC, datetime, timedelta

    from django.db import connection

    from audit.models import ChainVerification
    from providers.models import Provider, Secret
    from rotation.models import PolicyAssignment, RotationPolicy, RotationRequest

    rng = random.Random(20240612)
    now = datetime.now(UTC)
    providers = []
    for i, (kind, name) in enumerate(zip(PROVIDER_KINDS, PROVIDER_NAMES, strict=True)):
        synced = now - timedelta(minutes=rng.randint(1, 90))
        providers.append(Provider.objects.create(
            kind=kind, name=name, settings={"region": "us-east-1"} if kind == "aws" else {},
            last_sync_at=synced, last_sync_ok=i != 3, last_successful_sync_at=synced if i != 3 else None))
    batch = []
    for i in range(secrets):
        created = now - timedelta(days=rng.randint(30, 1500))
        rotated = created + timedelta(days=rng.randint(1, 29)) if rng.random() < 0.7 else None
        kind = KINDS[i // 44 % len(KINDS)]
        batch.append(Secret(
            provider=providers[i % len(providers)], name=secret_name(i), external_id=f"urn:bench:{i:06d}",
            description=f"{kind} for {ENVIRONMENTS[i % len(ENVIRONMENTS)]}",
            tags={"team": TEAMS[i % len(TEAMS)], "tier": rng.choice(("1", "2", "3"))},
            owner=TEAMS[i % len(TEAMS)], environment=ENVIRONMENTS[i % len(ENVIRONMENTS)],
            current_version=f"v{rng.randint(1, 400)}", provider_created_at=created,
            provider_updated_at=rotated or created, last_rotated_at=rotated,
            status=rng.choices(("active", "missing", "disabled"), (96, 3, 1))[0],
            last_synced_at=now, seen_generation=1,
        ))
        if len(batch) == BATCH_SIZE:
            Secret.objects.bulk_create(batch)
            batch = []
    if batch:
        Secret.objects.bulk_create(batch)
    # Policies: prod every 30 days, one provider's secrets every 180; the rest keep the default interval.
    monthly = RotationPolicy.objects.create(name="bench-prod-monthly", interval_days=30)
    PolicyAssignment.objects.create(policy=monthly, environment="prod", priority=10)
    relaxed = RotationPolicy.objects.create(name="bench-vault-relaxed", interval_days=180)
    PolicyAssignment.objects.create(policy=relaxed, provider=providers[1], priority=20)

    # Rotation requests in every state, on distinct secrets (one open rotation per secret).
    states = list(RotationRequest.State)
    chosen = Secret.objects.order_by("pk").values_list("pk", flat=True)[:ROTATION_REQUESTS * 7:7]
    requests = [RotationRequest(secret_id=pk, reason="bench", state=states[k % len(states)],
                                requested_by_name="bench") for k, pk in enumerate(chosen)]
    RotationRequest.objects.bulk_create(requests)
    for k, request in enumerate(requests):  # spread their ages (created_at is auto_now_add)
        RotationRequest.objects.filter(pk=request.pk).update(created_at=now - timedelta(hours=3 * k + 1))
    ChainVerification.objects.create(ok=True, events_checked=250_000, last_sequence=250_000, duration_seconds=41.0)
    with connection.cursor() as cursor:  # what autovacuum would have done; flush the load before measuring
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if cursor.fetchone()[0]:
            cursor.execute("CHECKPOINT")
    return {"secrets": Secret.objects.count(), "active": Secret.objects.filter(status="active").count(),
            "rotation_requests": RotationRequest.objects.count()}


# ---------------------------------------------------------------- an RQ job (in a work-horse)


def record_activity(seed, names=NAMES_PER_JOB):
    """What a worker process that has served a while holds: per-secret counters and provider timers."""
    from rotation import metrics as rotation_metrics
    from secretsadmin.metrics import OPERATION_SECONDS, SecretMetrics, SecretOperationTimer

    rng = random.Random(seed)
    for i in rng.sample(range(NAME_POOL), names):
        name, provider = secret_name(i), provider_of(i)
        for _ in range(rng.randint(1, 6)):
            SecretMetrics.record_secret_retrieval(name, rng.random() > 0.03, provider)
        if rng.random() < 0.3:
            SecretMetrics.record_secret_rotation(name, rng.random() > 0.1, provider)
        with SecretOperationTimer("get_secret", provider=provider):
            pass
    for provider in PROVIDER_NAMES:
        for operation in OPERATIONS:
            for _ in range(20):
                OPERATION_SECONDS.labels(operation=operation, provider=provider).observe(rng.expovariate(8))
            if rng.random() < 0.4:
                SecretMetrics.record_network_error(provider, operation)
            if rng.random() < 0.2:
                SecretMetrics.record_auth_failure(provider, operation)
        for step in STEPS:
            rotation_metrics.STEPS.labels(step=step, outcome="ok", provider=provider).inc(rng.randint(1, 9))
            rotation_metrics.STEP_SECONDS.labels(step=step, provider=provider).observe(rng.expovariate(2))
    return names


def main(argv):
    import django

    django.setup()
    if argv[:1] != ["fill"] or len(argv) != 2:
        raise SystemExit("usage: python -m bench._metrics fill N")
    start = time.perf_counter()
    facts = fill(int(argv[1]))
    print(json.dumps({**facts, "seconds": round(time.perf_counter() - start, 1)}))


if __name__ == "__main__":
    main(sys.argv[1:])
