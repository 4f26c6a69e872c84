"""Data for the compliance report benchmark, built with bulk SQL on PostgreSQL (INSERT ... SELECT generate_series).

In a Django child: `python -m bench._compliance_data SECRETS EVENTS` fills a migrated, empty database with
  - 200 people in the five roles, 5 providers (one without a rotation policy), 3 policies;
  - SECRETS secrets (a share overdue, missing or changed out of band), first seen a year ago;
  - 2,000 rotation runs in the last 30 days (some emergency, some failed, a few without their approval), each
    with its audit rows (requested, approved, rotated) naming the run, so the cross-checks find them;
  - EVENTS audit events in all (the runs' rows included) over the last 35 days in sequence order, mostly
    retrievals, reveals, sign-ins and syncs, with the chain head moved to the last row;
  - a recent access review and chain verification.
Run counts and everything but the number of audit events are the same whatever EVENTS is, so two databases
that differ only in EVENTS give "the same report" over more or fewer audit rows. Hashes are stand-ins (the
chain is not verified here; the report reads the recorded verification). Prints one JSON line of facts.
"""
import datetime
import json
import sys
import time

RUNS = 2_000
USERS = 200
PERIOD_DAYS = 35  # events are spread over this many days up to an hour ago

# A secret's name from its number i (the events name the same secrets).
SECRET_NAME = """(ARRAY['prod','staging','dev','qa'])[1 + {i} %% 4] || '/' ||
       (ARRAY['payments','billing','search','identity','ledger','ingest','reports'])[1 + {i} / 4 %% 7] || '/' ||
       (ARRAY['db-password','api-key','signing-key','oauth-client','smtp-login'])[1 + {i} / 28 %% 5] || '-' ||
       lpad({i}::text, 6, '0')"""

SECRETS_SQL = """
INSERT INTO providers_secret (uuid, provider_id, name, external_id, description, tags, owner, environment,
    current_version, provider_created_at, provider_updated_at, last_rotated_at, status, changed_out_of_band_at,
    first_seen_at, last_synced_at, rotating, seen_generation)
SELECT md5('secret' || i)::uuid, (%(providers)s)[1 + i %% 5],
       {name},
       'urn:bench:' || i, '', '{}'::jsonb, 'team-' || (i %% 5), (ARRAY['prod','staging','dev','qa'])[1 + i %% 4],
       'v' || (1 + i %% 400), now() - interval '500 days', now() - (i %% 120) * interval '1 day',
       CASE WHEN i %% 10 = 0 THEN NULL ELSE now() - (i %% 120) * interval '1 day' END,
       CASE WHEN i %% 100 = 0 THEN 'missing' ELSE 'active' END,
       CASE WHEN i %% 500 = 0 THEN now() - (i %% 20) * interval '1 day' END,
       now() - interval '400 days', now() - interval '1 hour', false, 1
FROM generate_series(1, %(secrets)s) AS i
""".replace("{name}", SECRET_NAME.format(i="i"))

RUNS_SQL = """
INSERT INTO rotation_rotationrequest (uuid, secret_id, policy_id, frozen_policy, requested_by_id, requested_by_name,
    reason, trigger, state, resume_state, required_approvals, attempts, old_version, new_version, error, claimed_by,
    job_id, review_required, review_note, reviewed_by_id, reviewed_at, created_at, updated_at, approved_at,
    started_at, promoted_at, finished_at)
SELECT md5('run' || k)::uuid, s.id, NULL, '{}'::jsonb, (%(operators)s)[1 + k %% 20], 'operator', 'bench rotation',
       CASE WHEN k %% 50 = 0 THEN 'emergency' ELSE 'manual' END,
       CASE WHEN k %% 40 = 0 THEN 'needs_attention' ELSE 'succeeded' END, '', 1, 1, 'v1', 'v2',
       CASE WHEN k %% 40 = 0 THEN 'provider timed out' ELSE '' END, '', '',
       k %% 50 = 0, '', CASE WHEN k %% 100 = 0 THEN (%(approvers)s)[1] END,
       CASE WHEN k %% 100 = 0 THEN t + interval '2 days' END,
       t, t, t + interval '1 hour', t + interval '2 hours',
       CASE WHEN k %% 40 <> 0 THEN t + interval '3 hours' END, CASE WHEN k %% 40 <> 0 THEN t + interval '3 hours' END
FROM generate_series(1, %(runs)s) AS k
JOIN providers_secret s ON s.uuid = md5('secret' || (k * 37 %% %(secrets)s + 1))::uuid
CROSS JOIN LATERAL (SELECT now() - interval '30 days' + k * interval '29 days' / %(runs)s AS t) times
"""

APPROVALS_SQL = """
INSERT INTO rotation_approval (request_id, approver_id, decision, comment, decided_at)
SELECT r.id, (%(approvers)s)[1 + r.id %% 20], 'approved', '', r.created_at + interval '30 minutes'
FROM rotation_rotationrequest r WHERE r.id %% 97 <> 0 AND r.trigger = 'manual'
"""

# Each run's own rows: requested, approved (when it was) and the rotation itself (when it succeeded).
RUN_EVENTS_SQL = """
CREATE TEMP TABLE bench_run_events AS
SELECT row_number() OVER (ORDER BY ts, kind) AS n, * FROM (
    SELECT r.created_at AS ts, 1 AS kind, 'rotation.requested' AS event_type, r.requested_by_id AS actor_id,
           'operator' AS actor_name, 'user' AS actor_type, r.uuid::text AS target_id, p.name AS provider,
           s.name AS secret_name
    FROM rotation_rotationrequest r JOIN providers_secret s ON s.id = r.secret_id
    JOIN providers_provider p ON p.id = s.provider_id
    UNION ALL
    SELECT a.decided_at, 2, 'rotation.approved', a.approver_id, 'approver', 'user', r.uuid::text, p.name, s.name
    FROM rotation_approval a JOIN rotation_rotationrequest r ON r.id = a.request_id
    JOIN providers_secret s ON s.id = r.secret_id JOIN providers_provider p ON p.id = s.provider_id
    UNION ALL
    SELECT r.promoted_at, 3, 'secret.rotation', NULL, '', 'worker', r.uuid::text, p.name, s.name
    FROM rotation_rotationrequest r JOIN providers_secret s ON s.id = r.secret_id
    JOIN providers_provider p ON p.id = s.provider_id WHERE r.state = 'succeeded'
) rows
"""

# All events, i = 1..N: every STEP-th sequence number is one of the runs' rows (in their time order); the rest
# are a weighted mix by i %% 100, their timestamps rising with i over the period. Events come in pairs (same
# person and secret for i and i + 1), so that each reveal follows its retrieval, as the reveal view writes them:
# in one request (the same request id and client address). Secret and rotation-step events name their provider
# and secret, as the application writes them, and every provider syncs (the scheduled sync takes each enabled one).
EVENTS_SQL = """
INSERT INTO audit_auditevent (sequence, uuid, timestamp, actor_id, actor_name, actor_type, event_type, outcome,
    failure_reason, target_type, target_id, target_text, provider, secret_name, details, request_id, client_ip,
    user_agent, prev_hash, hash)
SELECT i, md5('event' || i)::uuid,
       COALESCE(r.ts, now() - %(days)s * interval '1 day' + i * (%(days)s * interval '1 day' - interval '1 hour')
                                                             / %(total)s),
       CASE WHEN r.n IS NOT NULL THEN r.actor_id WHEN e.actor_type = 'user' THEN (%(people)s)[1 + b %% 200] END,
       COALESCE(r.actor_name, CASE WHEN e.actor_type = 'user' THEN 'person-' || (b %% 200) ELSE '' END),
       COALESCE(r.actor_type, e.actor_type), COALESCE(r.event_type, e.event_type),
       CASE WHEN r.n IS NULL AND (e.event_type = 'auth.login_failed' OR i %% 53 = 0) THEN 'failure'
            ELSE 'success' END,
       CASE WHEN r.n IS NULL AND (e.event_type = 'auth.login_failed' OR i %% 53 = 0) THEN 'refused' ELSE '' END,
       CASE WHEN r.n IS NOT NULL THEN 'rotation.rotationrequest'
            WHEN e.event_type LIKE 'secret.%%' THEN 'providers.secret' ELSE 'auth.user' END,
       COALESCE(r.target_id, md5('secret' || k)::uuid::text), 'bench target',
       COALESCE(r.provider, CASE WHEN e.named THEN (%(provider_names)s::text[])[1 + k %% 5]
                                 WHEN e.event_type = 'inventory.synced' THEN (%(provider_names)s::text[])[1 + i %% 5]
                                 ELSE '' END),
       COALESCE(r.secret_name, CASE WHEN e.named THEN {name} ELSE '' END),
       '{}'::jsonb, CASE WHEN e.actor_type = 'user' THEN md5('request' || e.request) ELSE '' END,
       CASE WHEN e.actor_type = 'user' THEN ('10.0.' || (e.request %% 250) || '.' || (1 + e.request %% 250))::inet END,
       CASE WHEN e.actor_type = 'user' THEN 'Mozilla/5.0 (bench)' ELSE '' END,
       encode(sha256(('event' || (i - 1))::bytea), 'hex'), encode(sha256(('event' || i)::bytea), 'hex')
FROM generate_series(1, %(total)s) AS i
CROSS JOIN LATERAL (SELECT i - i %% 2 AS b, (i - i %% 2) %% %(secrets)s + 1 AS k) pair
LEFT JOIN bench_run_events r ON r.n * %(step)s = i
CROSS JOIN LATERAL (SELECT CASE
    WHEN i %% 100 BETWEEN 37 AND 52 AND i %% 2 = 1 THEN 'secret.revealed' WHEN i %% 100 < 53 THEN 'secret.retrieval'
    WHEN i %% 100 < 63 THEN 'auth.login' WHEN i %% 100 < 66 THEN 'auth.login_failed'
    WHEN i %% 100 < 74 THEN 'inventory.synced' WHEN i %% 100 < 84 THEN 'rotation.step_finished'
    WHEN i %% 100 < 88 THEN 'provider.connection_tested' WHEN i %% 100 < 92 THEN 'audit.exported'
    WHEN i %% 100 < 95 THEN 'auth.logout' WHEN i %% 100 < 97 THEN 'permission.granted'
    WHEN i %% 100 < 98 THEN 'secret.changed_out_of_band' WHEN i %% 100 < 99 THEN 'rotation.needs_attention'
    ELSE 'audit.chain_verified' END AS event_type) t
CROSS JOIN LATERAL (SELECT t.event_type, CASE
    WHEN t.event_type IN ('inventory.synced', 'rotation.step_finished') THEN 'worker'
    WHEN t.event_type = 'audit.chain_verified' THEN 'system' ELSE 'user' END AS actor_type,
    t.event_type LIKE 'secret.%%' OR t.event_type LIKE 'rotation.step%%' AS named,
    CASE WHEN t.event_type = 'secret.revealed' THEN b ELSE i END AS request) e
""".replace("{name}", SECRET_NAME.format(i="k"))


def _people():
    from django.contrib.auth.models import Group, User

    User.objects.bulk_create([User(username=f"person-{i:03d}", password="!") for i in range(USERS)])
    people = list(User.objects.filter(username__startswith="person-").order_by("pk"))
    roles = ["Viewer", "Operator", "Approver", "Auditor", "Administrator"]
    through = User.groups.through
    groups = {name: Group.objects.get(name=name).pk for name in roles}
    # Five people hold both Operator and Approver: the separation-of-duties overlap the report lists.
    through.objects.bulk_create([through(user_id=p.pk, group_id=groups[roles[i % 5]]) for i, p in enumerate(people)]
                                + [through(user_id=people[i].pk, group_id=groups["Approver"]) for i in (1, 6, 11,
                                                                                                        16, 21)])
    operators = [p.pk for i, p in enumerate(people) if i % 5 == 1][:20]
    approvers = [p.pk for i, p in enumerate(people) if i % 5 == 2][:20]
    return [p.pk for p in people], operators, approvers


def _inventory():
    from providers.models import Provider
    from rotation.models import PolicyAssignment, RotationPolicy

    kinds = ("aws", "vault", "azure", "gcp", "aws")
    settings = {"aws": {"region": "eu-west-1", "kms_key_id": "alias/bench"},
                "vault": {"address": "https://vault.bench.internal:8200", "mount": "secret"},
                "azure": {"vault_url": "https://kv-bench.vault.azure.net"}, "gcp": {"project_id": "bench"}}
    providers = [Provider.objects.create(kind=kind, name=f"bench-{kind}-{i}", settings=settings[kind])
                 for i, kind in enumerate(kinds)]
    policies = [RotationPolicy.objects.create(name=f"bench-{days}d", interval_days=days) for days in (30, 90, 365)]
    for i, provider in enumerate(providers[:4]):  # the last provider's secrets have no policy
        PolicyAssignment.objects.create(policy=policies[i % 3], provider=provider)
    return [p.pk for p in providers], [p.name for p in providers]


def fill(secrets, events):
    from django.db import connection
    from django.utils import timezone

    from audit.models import ChainHead, ChainVerification
    from providers.access_review import AccessReview

    if connection.vendor != "postgresql":
        raise SystemExit("bench: the compliance report benchmark builds its data with PostgreSQL SQL")
    people, operators, approvers = _people()
    providers, provider_names = _inventory()
    params = {"providers": providers, "provider_names": provider_names, "secrets": secrets, "runs": RUNS,
              "operators": operators, "approvers": approvers, "people": people, "days": PERIOD_DAYS}
    with connection.cursor() as cursor:
        cursor.execute(SECRETS_SQL, params)
        cursor.execute(RUNS_SQL, params)
        cursor.execute(APPROVALS_SQL, params)
        cursor.execute(RUN_EVENTS_SQL)
        cursor.execute("SELECT count(*) FROM bench_run_events")
        run_events = cursor.fetchone()[0]
        total = max(events, run_events)
        cursor.execute(EVENTS_SQL, {**params, "total": total, "step": total // run_events})
        cursor.execute("SELECT hash FROM audit_auditevent WHERE sequence = %s", [total])
        last_hash = cursor.fetchone()[0]
    ChainHead.objects.update_or_create(pk=1, defaults={"sequence": total, "hash": last_hash})
    reviewer = people[3]
    AccessReview.objects.create(reviewed_by_id=reviewer, note="Quarterly review", rows_reviewed=500)
    AccessReview.objects.update(reviewed_at=timezone.now() - datetime.timedelta(days=20))
    ChainVerification.objects.create(ok=True, events_checked=total, last_sequence=total, duration_seconds=1.0)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # what autovacuum would have done to tables that grew over months
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if cursor.fetchone()[0]:
            cursor.execute("CHECKPOINT")  # flush the load now, not in a measured child
    return {"secrets": secrets, "events": total, "runs": RUNS, "run_events": run_events}


def main(argv):
    import django

    django.setup()
    start = time.perf_counter()
    facts = fill(int(argv[0]), int(argv[1]))
    print(json.dumps({**facts, "seconds": round(time.perf_counter() - start, 1)}))


if __name__ == "__main__":
    main(sys.argv[1:])
