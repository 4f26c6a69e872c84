"""The dashboard's "My work" panel: what waits for this user, by what their roles and grants let them do."""
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q

from providers.access_review import AccessReview
from rotation.access import APPROVE, decidable_requests, in_approver_groups, reviews_owed, visible_requests
from rotation.models import RotationRequest
from secretsadmin.config_compliance import DEFAULT_THRESHOLDS
from secretsadmin.permissions import has_permission, holds_permission_anywhere

SHOWN = 5  # rows per list; each list links to the full one
RELATED = ("secret__provider",)


def access_review_every_days():
    """How old the latest access review may be: the compliance check's threshold (configurable)."""
    configured = (getattr(settings, "CONFIG", None) and settings.CONFIG.compliance or {}).get("thresholds", {})
    default = DEFAULT_THRESHOLDS["access_review_recent"]["max_age_days"]
    return configured.get("access_review_recent", {}).get("max_age_days", default)


def _approvals(user):
    # The queue itself (rotation.views.approval_queue): pending requests are few, and the approver-group
    # check reads each one's frozen policy.
    candidates = decidable_requests(user).select_related(*RELATED).order_by("created_at", "pk")
    waiting = in_approver_groups(user, candidates)
    return {"rows": waiting[:SHOWN], "count": len(waiting)}


def _reviews(user):
    owed = reviews_owed(user).select_related(*RELATED).order_by("created_at", "pk")
    rows = list(owed[:SHOWN])
    return {"rows": rows, "count": len(rows) if len(rows) < SHOWN else owed.count()}


def _my_requests(user):
    mine = visible_requests(user).filter(requested_by=user)
    counts = mine.aggregate(total=Count("pk"), open=Count("pk", filter=Q(state__in=RotationRequest.OPEN_STATES)))
    rows = mine.select_related(*RELATED).order_by("-created_at", "-pk")[:SHOWN] if counts["total"] else []
    return {"rows": list(rows), **counts}


def _access_review(user, now):
    every = access_review_every_days()
    latest = AccessReview.objects.order_by("-reviewed_at").values_list("reviewed_at", flat=True).first()
    due_at = latest + timedelta(days=every) if latest else None
    return {"latest": latest, "due_at": due_at, "due": due_at is None or due_at <= now, "every_days": every}


def my_work(user, now):
    """{"approvals", "reviews", "requests", "access_review"}: each present only when it concerns this user."""
    work = {}
    if holds_permission_anywhere(user, APPROVE):
        work["approvals"] = _approvals(user)
        work["reviews"] = _reviews(user)
    may_request = holds_permission_anywhere(user, "providers.request_rotation")
    if may_request or holds_permission_anywhere(user, "rotation.view_rotationrequest"):
        requests = _my_requests(user)
        if may_request or requests["total"]:
            work["requests"] = requests
    # The access review page is for Auditors and Administrators; reviewing access is an Administrator's duty.
    if has_permission(user, "providers.manage_permissions") and has_permission(user, "audit.view_auditevent"):
        work["access_review"] = _access_review(user, now)
    return work
