"""Security-posture gauges for /metrics, computed cheaply: nothing here reads the whole inventory per scrape.

The inventory figures (secrets and overdue secrets per provider) need a pass over the inventory, so a
scheduled job computes them once a minute into the shared cache and a scrape only reads that snapshot
(computing it itself only when no snapshot exists yet). Everything else is a handful of indexed queries
or Redis calls per scrape.
"""
import logging
import time

import django_rq
from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from rq import Queue, Worker

from audit.models import ChainVerification
from providers.filters import overdue_condition, with_policy_interval, with_rotation_base
from providers.models import Provider, Secret
from rotation.models import RotationRequest
from secretsadmin.cache import get_or_none, set_if_possible

log = logging.getLogger("secretsadmin")
SNAPSHOT_KEY = "metrics:posture:inventory"
SNAPSHOT_TTL = 600  # a stale snapshot beats a scrape that scans 100,000 rows; the job refreshes it every minute
State = RotationRequest.State
STATE_GROUPS = {
    "pending_approval": [State.PENDING_APPROVAL],
    "running": [State.APPROVED, State.QUEUED, *RotationRequest.RUNNING_STATES, State.GRACE],
    "failed_retryable": [State.FAILED_RETRYABLE],
    "needs_attention": [State.NEEDS_ATTENTION],
}


def compute_inventory_snapshot():
    """{provider: {"secrets": n, "overdue": n}} over active secrets, and when it was computed."""
    active = Secret.objects.filter(status=Secret.Status.ACTIVE)
    totals = dict(active.values_list("provider__name").annotate(n=Count("pk")).values_list("provider__name", "n"))
    annotated, values = with_policy_interval(with_rotation_base(active))
    overdue = dict(annotated.filter(overdue_condition(timezone.now(), values)).values_list("provider__name")
                   .annotate(n=Count("pk")).values_list("provider__name", "n"))
    snapshot = {"computed_at": time.time(),
                "providers": {name: {"secrets": totals.get(name, 0), "overdue": overdue.get(name, 0)}
                              for name in Provider.objects.values_list("name", flat=True)}}
    set_if_possible(SNAPSHOT_KEY, snapshot, SNAPSHOT_TTL)
    return snapshot


def refresh_posture_snapshot_job():
    return len(compute_inventory_snapshot()["providers"])


def _inventory_snapshot():
    return get_or_none(SNAPSHOT_KEY) or compute_inventory_snapshot()  # a Redis outage: counted afresh


class PostureCollector:
    """A prometheus_client collector: yields the gauges fresh at each scrape of this process's registry."""

    def collect(self):
        # A database outage must not fail the scrape: the process metrics (errors, latencies) matter most then.
        readable = True
        for section in (self._inventory, self._rotations, self._providers, self._audit):
            try:
                families = list(section())
            except DatabaseError as exc:
                log.warning("metrics: posture gauges unavailable (%s)", type(exc).__name__)
                readable = False
                break
            yield from families
        yield GaugeMetricFamily("secretsadmin_posture_up",
                                "1 if the posture gauges could be read from the database (0: they are missing)",
                                value=1 if readable else 0)
        yield from self._queues()

    def _inventory(self):
        snapshot = _inventory_snapshot()
        secrets = GaugeMetricFamily("secretsadmin_secrets", "Active inventoried secrets", labels=["provider"])
        overdue = GaugeMetricFamily("secretsadmin_secrets_overdue", "Active secrets past their rotation interval",
                                    labels=["provider"])
        for name, figures in sorted(snapshot["providers"].items()):
            secrets.add_metric([name], figures["secrets"])
            overdue.add_metric([name], figures["overdue"])
        yield secrets
        yield overdue
        yield GaugeMetricFamily("secretsadmin_posture_snapshot_age_seconds",
                                "Age of the inventory figures above", value=time.time() - snapshot["computed_at"])

    def _rotations(self):
        counts = dict(RotationRequest.objects.filter(state__in=[s for group in STATE_GROUPS.values() for s in group])
                      .values_list("state").annotate(n=Count("pk")).values_list("state", "n"))
        rotations = GaugeMetricFamily("secretsadmin_rotations", "Open rotations by state", labels=["state"])
        for label, states in STATE_GROUPS.items():
            rotations.add_metric([label], sum(counts.get(state, 0) for state in states))
        yield rotations
        oldest = RotationRequest.objects.filter(state=State.PENDING_APPROVAL).aggregate(oldest=Min("created_at"))
        age = (timezone.now() - oldest["oldest"]).total_seconds() if oldest["oldest"] else 0
        yield GaugeMetricFamily("secretsadmin_oldest_pending_approval_seconds",
                                "Age of the oldest rotation request waiting for approval (0: none)", value=age)

    def _providers(self):
        now = timezone.now()
        age = GaugeMetricFamily("secretsadmin_provider_sync_age_seconds",
                                "Seconds since the provider's last successful sync (since it was added, if never)",
                                labels=["provider"])
        ok = GaugeMetricFamily("secretsadmin_provider_last_sync_ok", "1 if the last sync succeeded",
                               labels=["provider"])
        for provider in Provider.objects.filter(enabled=True).only(
                "name", "last_successful_sync_at", "created_at", "last_sync_ok"):
            since = provider.last_successful_sync_at or provider.created_at
            age.add_metric([provider.name], (now - since).total_seconds())
            ok.add_metric([provider.name], 1 if provider.last_sync_ok else 0)
        yield age
        yield ok

    def _audit(self):
        latest = ChainVerification.objects.order_by("-verified_at").first()
        yield GaugeMetricFamily("secretsadmin_audit_chain_verified",
                                "1 if the last audit chain verification succeeded (0: broken or never verified)",
                                value=1 if latest and latest.ok else 0)
        yield GaugeMetricFamily("secretsadmin_audit_chain_verified_timestamp_seconds",
                                "When the audit chain was last verified (Unix time; 0: never)",
                                value=latest.verified_at.timestamp() if latest else 0)

    def _queues(self):
        depth = GaugeMetricFamily("secretsadmin_rq_queue_depth", "Jobs waiting per RQ queue", labels=["queue"])
        try:
            # One connection and one round trip for every queue (get_queue would connect once per queue).
            connection = django_rq.get_connection("default")
            names = list(settings.RQ_QUEUES)
            with connection.pipeline(transaction=False) as pipeline:
                for name in names:
                    pipeline.llen(Queue(name, connection=connection).key)
                lengths = pipeline.execute()
            for name, length in zip(names, lengths, strict=True):
                depth.add_metric([name], length)
            workers = Worker.count(connection=connection)
        except Exception as exc:
            log.warning("metrics: Redis unreachable (%s)", type(exc).__name__)
            workers = 0
        yield depth
        yield GaugeMetricFamily("secretsadmin_rq_workers", "RQ workers alive", value=workers)
