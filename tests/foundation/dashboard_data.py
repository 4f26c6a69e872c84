"""The dashboard tests' data: one inventory, rotation history and provider health whose figures are known by role.

Built with the compliance tests' evidence builder (real rows, real audit chain, chosen times). The comments give
each row's part in the figures; EXPECTED is what a user who sees everything should read on the page.
"""
from dataclasses import dataclass

import pytest
from django.utils import timezone
from guardian.shortcuts import assign_perm

from providers.models import Provider
from rotation.models import RotationRequest
from secretsadmin.dashboard import forget_snapshot
from tests.compliance.evidence import Evidence, ago

State = RotationRequest.State

# Everything, as a role user (global view permissions) sees it.
EXPECTED = {
    "secrets": 9, "overdue": 3, "never-rotated": 2, "drift": 1, "missing": 1,
    "pending": 2, "running": 1, "attention": 1, "failed": 1, "sync": 2,
}
# Only vault-dev's secrets and their rotations: the one-provider grant.
EXPECTED_VAULT = {
    "secrets": 3, "overdue": 1, "never-rotated": 1, "drift": 0, "missing": 0,
    "pending": 1, "running": 0, "attention": 1, "failed": 1, "sync": 1,
}
WEEKLY_SUCCEEDED = [0] * 10 + [1, 2]  # oldest window first; the newest is the last 7 days
WEEKLY_FAILED = [0] * 9 + [1, 0, 1]
WEEKLY_SUCCEEDED_VAULT = [0] * 12
WEEKLY_FAILED_VAULT = [0] * 11 + [1]


@dataclass
class Scenario:
    prod: Provider
    dev: Provider
    stale: Provider
    rows: dict


def build(users):
    """The data set; `users` are role_users (bob requests, charlie approves, erin reviewed access)."""
    e = Evidence()
    bob, charlie, erin = users["bob"], users["charlie"], users["erin"]
    prod, dev, stale = e.provider("aws-prod"), e.provider("vault-dev", "vault"), e.provider("gcp-stale", "gcp")
    now = timezone.now()
    # Health: aws-prod synced a minute ago; vault-dev's last sync failed; gcp-stale has not succeeded for 3 days
    # (its interval is an hour).
    Provider.objects.filter(pk=prod.pk).update(last_sync_at=now, last_sync_ok=True, last_successful_sync_at=now)
    Provider.objects.filter(pk=dev.pk).update(last_sync_at=now, last_sync_ok=False, last_successful_sync_at=now)
    Provider.objects.filter(pk=stale.pk).update(last_sync_at=ago(3), last_sync_ok=True,
                                                last_successful_sync_at=ago(3), sync_interval_minutes=60)
    e.policy("monthly", interval_days=30, provider=prod)  # vault-dev keeps the default 90 days
    rows = {
        # aws-prod, 30 days: under half, half to full, overdue, never rotated (and overdue), missing, drifted.
        "p1": e.secret(prod, "db/p1", rotated=5, environment="prod"),
        "p2": e.secret(prod, "db/p2", rotated=20, environment="prod"),
        "p3": e.secret(prod, "db/p3", rotated=40, environment="prod"),
        "p4": e.secret(prod, "db/p4", seen=100, environment="Prod"),
        "p5": e.secret(prod, "db/p5", rotated=200, environment="prod", status="missing"),
        "p6": e.secret(prod, "db/p6", rotated=1, environment="staging", changed_out_of_band_at=ago(1)),
        # vault-dev, 90 days: overdue, never rotated (seen 10 days ago: under half), half to full.
        "d1": e.secret(dev, "app/d1", rotated=100, environment="dev"),
        "d2": e.secret(dev, "app/d2", seen=10, environment="dev"),
        "d3": e.secret(dev, "app/d3", rotated=50),
    }
    runs = {
        "waiting": e.run(rows["p1"], requester=bob, state=State.PENDING_APPROVAL, created=2, started=None),
        "own": e.run(rows["d1"], requester=charlie, state=State.PENDING_APPROVAL, created=1, started=None),
        "staging": e.run(rows["p2"], requester=bob, state=State.STAGING, created=0.2, started=0.1),
        "stuck": e.run(rows["d2"], requester=None, state=State.NEEDS_ATTENTION, trigger="scheduled", created=1),
        "recent": e.run(rows["p3"], requester=bob, state=State.SUCCEEDED, created=4, started=3, approvers=[charlie]),
        "older": e.run(rows["p1"], requester=bob, state=State.SUCCEEDED, created=11, started=10,
                       approvers=[charlie]),
        "emergency": e.run(rows["p6"], requester=bob, state=State.SUCCEEDED, trigger="emergency", created=5,
                           started=5, required=0),
        "failed_recent": e.run(rows["d3"], requester=None, state=State.CANCELLED, trigger="scheduled", created=3),
        "failed_older": e.run(rows["p2"], requester=bob, state=State.CANCELLED, created=21, started=20),
    }
    # Outcome events: succeeded 3, 5 and 10 days ago; failed 2 (vault-dev) and 20 days ago.
    for name, days, outcome in (("recent", 3, "success"), ("emergency", 5, "success"), ("older", 10, "success"),
                                ("failed_recent", 2, "failure"), ("failed_older", 20, "failure")):
        run = runs[name]
        e.event("secret.rotation", actor="worker", target=run, secret=run.secret, days=days, outcome=outcome)
    e.verification(ok=True, days=0.5, last_sequence=5)
    e.access_review(erin, days=100)  # the default every 90 days: due
    return Scenario(prod, dev, stale, {**rows, **runs})


@pytest.fixture(name="fresh_snapshot")
def fresh_snapshot_fixture():
    """Role users read the figures from a cached snapshot: start each test without one (and leave none)."""
    forget_snapshot()
    yield
    forget_snapshot()


@pytest.fixture(name="scenario")
def scenario_fixture(role_users, fresh_snapshot):
    return build(role_users)


@pytest.fixture(name="vault_viewer")
def vault_viewer_fixture(mallory, scenario):
    """No role: view_provider granted on vault-dev, and the rotation list (a user permission)."""
    assign_perm("providers.view_provider", mallory, scenario.dev)
    assign_perm("rotation.view_rotationrequest", mallory)
    return mallory
