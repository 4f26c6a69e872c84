"""How rotation runs ended, as the audit trail records it: each run's `secret.rotation` event is a success when
its new version went live and a failure when the worker gave up on it (rotation.engine writes both)."""
from audit.models import AuditEvent
from audit.queries import uuid_text

OUTCOME_EVENT = "secret.rotation"
RUN_TARGET = "rotation.rotationrequest"


def outcome_events(since, requests=None):
    """The runs' outcome events since `since`; only those of the runs in `requests` (a queryset) when given."""
    events = AuditEvent.objects.filter(event_type=OUTCOME_EVENT, target_type=RUN_TARGET, timestamp__gte=since)
    if requests is not None:
        events = events.filter(target_id__in=requests.order_by().annotate(key=uuid_text("uuid")).values("key"))
    return events


def failed_since(requests, since):
    """The runs among `requests` that the worker gave up on since `since` (whatever happened to them after)."""
    failures = outcome_events(since).filter(outcome=AuditEvent.Outcome.FAILURE).values("target_id")
    return requests.annotate(outcome_key=uuid_text("uuid")).filter(outcome_key__in=failures)
