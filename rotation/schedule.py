"""Scheduled rotations: a request for every policy-governed secret past its interval (cron: rotate_due_secrets)."""
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Exists, OuterRef
from django.db.models.functions import Coalesce
from django.utils import timezone

from providers.models import Secret
from rotation.models import RotationPolicy, RotationRequest
from rotation.policies import policy_id_expression
from rotation.services import RotationRefused, request_scheduled_rotation


@dataclass
class ScheduleResult:
    requested: list = field(default_factory=list)  # (secret, request) pairs
    skipped: int = 0

    def summary(self):
        return {"requested": len(self.requested), "skipped": self.skipped,
                "auto_approved": sum(1 for _, r in self.requested if r.state == RotationRequest.State.QUEUED)}


def due_secrets(policy, now, policy_ids=None):
    """Active secrets governed by `policy`, past its interval, with no open rotation."""
    open_request = RotationRequest.objects.filter(secret=OuterRef("pk"), state__in=RotationRequest.OPEN_STATES)
    return (Secret.objects.filter(status=Secret.Status.ACTIVE)
            .annotate(governing_policy=policy_ids, rotation_base=Coalesce("last_rotated_at", "first_seen_at"))
            .filter(governing_policy=policy.pk, rotation_base__lt=now - timedelta(days=policy.interval_days))
            .exclude(Exists(open_request))
            .select_related("provider").order_by("pk"))


def rotate_due_secrets(*, now=None, dry_run=False, limit=None):
    now = now or timezone.now()
    result = ScheduleResult()
    policy_ids = policy_id_expression()
    for policy in RotationPolicy.objects.all():
        for secret in due_secrets(policy, now, policy_ids).iterator(chunk_size=500):
            if limit is not None and len(result.requested) >= limit:
                return result
            if dry_run:
                result.requested.append((secret, RotationRequest(secret=secret, policy=policy)))
                continue
            try:
                result.requested.append((secret, request_scheduled_rotation(secret, policy)))
            except RotationRefused:
                result.skipped += 1  # a request appeared in between (a person, or another scheduler)
    return result
