"""p95 latency of the inventory list (/inventory/) over 100,000 secrets on PostgreSQL, vs. the dashboard home.

A throwaway PostgreSQL database, migrated, holds 100,000 Secret rows over 5 providers (bulk_create in
batches of 5,000, then VACUUM ANALYZE as autovacuum would have done) and 200 users with django-guardian
object grants through assign_perm (so in the direct foreign-key tables): a quarter hold view_provider on
one provider, the others view_secret on 25 secrets each. Two users sign in over real HTTP to one gunicorn
worker (bench._server.gunicorn_server, DATABASE_URL pointing at that database):

  viewer    in the Viewer group (global view permissions through the role)
  granted   no role, only view_provider on one provider (20,000 secrets) by object grant

Requests are interleaved (home, list, search, granted list, one of each per round) so that drift in the
machine's speed falls on every figure alike: WARMUP rounds, then REQUESTS measured rounds. The baseline of
every figure is the p95 of the viewer's GET / (the dashboard home) in the same server and run.
BENCH_INVENTORY_SECRETS (or BENCH_SYNC_SCALE, a float factor) sets the number of secrets for quick runs.
"""
import json
import os
import statistics
import sys
import time

import requests

from bench._audit_data import audit_env, manage_argv, run_child
from bench._pg import throwaway_database
from bench._server import gunicorn_server, workdir

SECRETS = 100_000
PROVIDERS = 5
GRANT_USERS = 200
SECRETS_PER_GRANT = 25
BATCH_SIZE = 5_000
REQUESTS = 200
WARMUP = 20
PASSWORD = "bench-only-password-3c9a"  # throwaway accounts in a throwaway database
VIEWER, GRANTED = "bench-viewer", "bench-granted"
SEARCH = "/inventory/?q=payments&sort=name"
ENVIRONMENTS = ("prod", "staging", "dev", "qa")
SERVICES = ("payments", "checkout", "billing", "search", "auth", "notifications", "reporting", "ledger", "ingest",
            "mobile-api", "identity")
KINDS = ("db-password", "api-key", "signing-key", "oauth-client", "smtp-login", "webhook-hmac", "tls-key")
TEAMS = ("team-core", "team-growth", "team-platform", "team-data", "team-risk")


def secrets_wanted():
    """BENCH_INVENTORY_SECRETS, else SECRETS scaled by BENCH_SYNC_SCALE (a float, for quick runs)."""
    if os.environ.get("BENCH_INVENTORY_SECRETS"):
        return int(os.environ["BENCH_INVENTORY_SECRETS"])
    return max(PROVIDERS, int(SECRETS * float(os.environ.get("BENCH_SYNC_SCALE") or 1)))


# ---------------------------------------------------------------- in the benchmark process


def _p95(samples):
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


def _login(base, username):
    session = requests.Session()
    page = session.get(f"{base}/accounts/login/", timeout=10)
    token = page.text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    answer = session.post(f"{base}/accounts/login/", timeout=10, allow_redirects=False,
                          data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token})
    if answer.status_code != 302:
        raise SystemExit(f"bench: {username} could not log in to the benchmark server")
    return session


def _check(response, label, expect):
    response.raise_for_status()
    if expect and expect not in response.text:
        raise SystemExit(f"bench: {label} answered without {expect!r}; is the page still the inventory?")


def run():
    secrets = secrets_wanted()
    began = time.perf_counter()
    load_before = os.getloadavg()[0]  # other work on the machine skews every figure: say how much there was
    with workdir() as path, throwaway_database() as url:
        if url is None:
            raise SystemExit("bench: inventory_page needs PostgreSQL (BENCH_PG_URL); it is not reachable")
        env = audit_env(path, url)
        env["DJANGO_SETTINGS_MODULE"] = "bench.settings"
        (path / "var").mkdir()
        run_child(manage_argv("migrate", "--noinput"), env).check("migrate")
        filled = run_child([sys.executable, "-m", "bench.inventory_page", str(secrets)], env).check("filling")
        facts = json.loads(filled.stdout.strip().splitlines()[-1])
        with gunicorn_server(env) as base:
            viewer, granted = _login(base, VIEWER), _login(base, GRANTED)
            targets = {  # label: (session, path, text the answer must contain)
                "home": (viewer, "/", ""),
                "list": (viewer, "/inventory/", "inventory-row"),
                "search": (viewer, SEARCH, "inventory-row"),
                "granted": (granted, "/inventory/", "inventory-row"),
            }
            samples = {label: [] for label in targets}
            for round_ in range(WARMUP + REQUESTS):
                for label, (session, target, expect) in targets.items():
                    start = time.perf_counter()
                    response = session.get(f"{base}{target}", timeout=30)
                    elapsed = (time.perf_counter() - start) * 1000
                    if round_ == 0:
                        _check(response, label, expect)
                    response.raise_for_status()
                    if round_ >= WARMUP:
                        samples[label].append(elapsed)
    took = time.perf_counter() - began
    p95 = {label: _p95(values) for label, values in samples.items()}
    median = {label: statistics.median(values) for label, values in samples.items()}
    home = round(p95["home"], 2)
    common = (f"p95 of {REQUESTS} GETs after {WARMUP} warm-up, interleaved with the other figures, one gunicorn "
              f"worker; {facts['secrets']:,} secrets over {PROVIDERS} providers, {facts['user_grants']:,} user object "
              f"grants for {GRANT_USERS} users, PostgreSQL; baseline: p95 of the Viewer's GET / (median "
              f"{median['home']:.1f} ms); fill {facts['seconds']:.0f} s, bench took {took:.0f} s; load average "
              f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after (2 cores)")
    yield {
        "metric": "inventory_list_p95", "value": round(p95["list"], 2), "unit": "ms", "baseline": home,
        "note": f"goal <= 3; Viewer role, GET /inventory/ (first page; median {median['list']:.1f} ms); {common}",
    }
    yield {
        "metric": "inventory_search_p95", "value": round(p95["search"], 2), "unit": "ms", "baseline": home,
        "note": (f"goal <= 3; Viewer role, GET {SEARCH} ({facts['search_matches']:,} names contain 'payments'; median "
                 f"{median['search']:.1f} ms); {common}"),
    }
    yield {
        "metric": "inventory_list_p95_granted_user", "value": round(p95["granted"], 2), "unit": "ms",
        "baseline": home,
        "note": (f"goal <= 3; no role, view_provider granted on 1 provider ({facts['granted_visible']:,} secrets "
                 f"visible), GET /inventory/ (median {median['granted']:.1f} ms); {common}"),
    }


# ---------------------------------------------------------------- in a Django child


def fill(secrets):
    """Providers, secrets, grant holders and the two signed-in users; returns facts for the notes."""
    import random
    from datetime import UTC, datetime, timedelta

    from django.contrib.auth.models import Group, User
    from django.db import connection
    from guardian.shortcuts import assign_perm

    from providers.models import Provider, Secret

    rng = random.Random(20240611)
    now = datetime.now(UTC)
    kinds = ("aws", "vault", "azure", "gcp", "aws")
    providers = [Provider.objects.create(kind=kinds[i], name=f"bench-{kinds[i]}-{i}",
                                         settings={"region": "us-east-1"} if kinds[i] == "aws" else {})
                 for i in range(PROVIDERS)]
    batch = []
    for i in range(secrets):
        environment, service = ENVIRONMENTS[i % len(ENVIRONMENTS)], SERVICES[i // 4 % len(SERVICES)]
        name = f"{environment}/{service}/{KINDS[i // 44 % len(KINDS)]}-{i:06d}"
        created = now - timedelta(days=rng.randint(30, 1500))
        rotated = created + timedelta(days=rng.randint(1, 29)) if rng.random() < 0.7 else None
        batch.append(Secret(
            provider=providers[i % PROVIDERS], name=name, external_id=f"urn:bench:{i:06d}",
            description=f"{service} {KINDS[i // 44 % len(KINDS)]} for {environment}",
            tags={"team": TEAMS[i % len(TEAMS)], "service": service, "tier": rng.choice(("1", "2", "3"))},
            owner=TEAMS[i % len(TEAMS)], environment=environment, current_version=f"v{rng.randint(1, 400)}",
            provider_created_at=created, provider_updated_at=rotated or created, last_rotated_at=rotated,
            status=rng.choices(("active", "missing", "disabled"), (96, 3, 1))[0],
            changed_out_of_band_at=now - timedelta(days=3) if rng.random() < 0.01 else None,
            last_synced_at=now, seen_generation=1,
        ))
        if len(batch) == BATCH_SIZE:
            Secret.objects.bulk_create(batch)
            batch = []
    if batch:
        Secret.objects.bulk_create(batch)

    User.objects.bulk_create([User(username=f"grant-holder-{i:03d}", password="!") for i in range(GRANT_USERS)])
    holders = list(User.objects.filter(username__startswith="grant-holder-").order_by("pk"))
    secret_ids = list(Secret.objects.values_list("pk", flat=True))
    for i, user in enumerate(holders):
        if i % 4 == 0:
            assign_perm("providers.view_provider", user, providers[i % PROVIDERS])
        else:
            chosen = rng.sample(secret_ids, min(SECRETS_PER_GRANT, len(secret_ids)))
            assign_perm("providers.view_secret", user, Secret.objects.filter(pk__in=chosen))

    viewer = User.objects.create_user(VIEWER, password=PASSWORD)
    viewer.groups.add(Group.objects.get(name="Viewer"))
    granted = User.objects.create_user(GRANTED, password=PASSWORD)
    assign_perm("providers.view_provider", granted, providers[0])

    from providers.models import ProviderUserObjectPermission, SecretUserObjectPermission

    user_grants = ProviderUserObjectPermission.objects.count() + SecretUserObjectPermission.objects.count()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {
        "secrets": Secret.objects.count(), "user_grants": user_grants,
        "search_matches": Secret.objects.filter(name__icontains="payments").count(),
        "granted_visible": Secret.objects.filter(provider=providers[0]).count(),
    }


def main(argv):
    import django

    django.setup()
    start = time.perf_counter()
    facts = fill(int(argv[0]) if argv else secrets_wanted())
    print(json.dumps({**facts, "seconds": round(time.perf_counter() - start, 1)}))


if __name__ == "__main__":
    main(sys.argv[1:])
