"""The reconciler: no approved run is forgotten, whatever happened to Redis or to the workers.

Every 30 seconds (secretsadmin/cron.py) and from `manage.py reconcile_rotations`: expire stale requests,
then enqueue every run that should be moving but is not - queued with no live job (Redis flushed or down
at approval time) or whose job a worker took and died before claiming the run (a lease ago), claimed by a
worker whose lease lapsed (killed), waiting to retry whose time has come,
or in its grace period that has ended. And no notification is forgotten either: one still owed at its retry time
(its job was lost with Redis) is enqueued again.
"""
from dataclasses import dataclass

import django_rq
from django.db.models import Q
from django.utils import timezone

from rotation.jobs import enqueue_now, job_is_alive
from rotation.models import RotationRequest
from rotation.notifications import enqueue_overdue_notifications
from rotation.services import expire_stale_requests


@dataclass
class Reconciled:
    expired: int = 0
    enqueued: int = 0
    alive: int = 0
    notifications: int = 0

    def summary(self):
        return {"expired": self.expired, "enqueued": self.enqueued, "already queued": self.alive,
                "notifications enqueued again": self.notifications}


def runs_due(now):
    return RotationRequest.objects.filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        state__in=RotationRequest.RUNNABLE_STATES,
    ).exclude(state=RotationRequest.State.GRACE, grace_until__gt=now).order_by("pk")


def reconcile_rotations(now=None):
    now = now or timezone.now()
    result = Reconciled(expired=expire_stale_requests(now))
    connection = django_rq.get_connection("rotation")
    for rotation in runs_due(now).only("pk", "job_id", "claimed_by"):
        # A claim whose lease lapsed belongs to a dead worker: its job is dead too, whatever Redis says.
        if not rotation.claimed_by and job_is_alive(rotation, connection, now):
            result.alive += 1
            continue
        if enqueue_now(rotation.pk):
            result.enqueued += 1
    result.notifications = enqueue_overdue_notifications(now)
    return result
