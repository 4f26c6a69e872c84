"""Who is told what about rotations: approvers of new requests, requesters of decisions and outcomes."""
import logging
from datetime import timedelta

import django_rq
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.mail import send_mass_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from redis.exceptions import RedisError
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from providers.models import (
    ProviderGroupObjectPermission,
    ProviderUserObjectPermission,
    SecretGroupObjectPermission,
    SecretUserObjectPermission,
)
from rotation.models import Approval, PendingNotification, RotationRequest
from secretsadmin.lookalikes import with_code_points

log = logging.getLogger("secretsadmin.rotation")
State = RotationRequest.State
WEBHOOK_TIMEOUT = 10
RETRY_AFTER = timedelta(minutes=2)  # a healthy queue runs the job in seconds; past this, it was lost


# -- what the callers see: each one owes a notification (a row in the caller's transaction) and puts a job on the
# queue once that transaction commits; the row goes when the job takes it, so a job lost with Redis is enqueued
# again by the reconciler (enqueue_overdue_notifications) ------------------------------------------------------
def request_filed(rotation):
    _owe("filed", rotation.pk)


def request_decided(rotation, *, approve, final):
    _owe("decided", rotation.pk, approve=bool(approve), final=bool(final))


def run_finished(rotation):
    if rotation.state == State.SUCCEEDED and rotation.requested_by_id is None \
            and not settings.ROTATION_NOTIFY_WEBHOOK_URL:
        return  # a scheduled run that succeeded: nobody to tell, so no job that would only find that out
    _owe("finished", rotation.pk)


def enqueue_overdue_notifications(now, limit=500):
    """Enqueue again the notifications still owed at their retry time (the reconciler); how many were put."""
    overdue = list(PendingNotification.objects.filter(retry_at__lte=now).order_by("pk")[:limit])
    PendingNotification.objects.filter(pk__in=[owed.pk for owed in overdue]).update(retry_at=now + RETRY_AFTER)
    return sum(_put(owed) for owed in overdue)


_queues = {}


def _queue():
    """The notification queue, one per process: a new Redis client per enqueue cost a connection handshake."""
    # "auto": this already runs after the commit; django-rq's own deferral (inside an outer atomic
    # block) would raise a Redis error later, past the except clause below.
    # redis-py's pool notices a fork and opens new connections in the child, so keeping it is safe.
    key = repr(settings.RQ_QUEUES.get("default"))  # a changed configuration gets a queue of its own
    if key not in _queues:
        _queues[key] = django_rq.get_queue("default", commit_mode="auto")
    return _queues[key]


def _owe(kind, request_id, **extra):
    owed = PendingNotification.objects.create(request_id=request_id, kind=kind, extra=extra,
                                              retry_at=timezone.now() + RETRY_AFTER)
    transaction.on_commit(lambda: _put(owed), robust=True)


def _put(owed):
    try:
        _queue().enqueue(send_rotation_notification_job, owed.kind, owed.request_id, notification=owed.pk,
                         **owed.extra)
    except RedisError as exc:
        # The rotation or decision is committed; a lost notification must not undo or fail it.
        log.warning("rotation %s: %s notification not enqueued (%s); the reconciler will retry", owed.request_id,
                    owed.kind, type(exc).__name__)
        return False
    return True


# -- who --------------------------------------------------------------------------------------------------------
def approvers_for(rotation):
    """Active users with an email who may approve `rotation` (role, grant on the secret or its provider), one query.

    Mirrors services._approval_refusal: the requester is left out, and a policy's approver groups narrow the rest.
    """
    User = get_user_model()
    membership = User.groups.through.objects
    role = {"permission__codename": "approve_rotation", "permission__content_type__app_label": "providers"}
    on_secret = {**role, "content_object_id": rotation.secret_id}
    on_provider = {"permission__codename": "approve_provider_rotation",
                   "permission__content_type__app_label": "providers", "content_object__secrets": rotation.secret_id}
    groups = membership.filter(
        Q(group__in=Group.permissions.through.objects.filter(**role).values("group"))
        | Q(group__in=SecretGroupObjectPermission.objects.filter(**on_secret).values("group"))
        | Q(group__in=ProviderGroupObjectPermission.objects.filter(**on_provider).values("group")))
    holders = (Q(is_superuser=True)
               | Q(pk__in=User.user_permissions.through.objects.filter(**role).values("user"))
               | Q(pk__in=SecretUserObjectPermission.objects.filter(**on_secret).values("user"))
               | Q(pk__in=ProviderUserObjectPermission.objects.filter(**on_provider).values("user"))
               | Q(pk__in=groups.values("user")))
    users = User.objects.filter(holders, is_active=True).exclude(email="")
    if rotation.requested_by_id:
        users = users.exclude(pk=rotation.requested_by_id)
    approver_groups = rotation.frozen_policy.get("approver_groups") or []
    if approver_groups:
        users = users.filter(pk__in=membership.filter(group__in=approver_groups).values("user"))
    return users.order_by("username")


def _approver_emails(rotation):
    return list(approvers_for(rotation).values_list("email", flat=True))


def _requester_emails(rotation):
    user = rotation.requested_by
    return [user.email] if user is not None and user.is_active and user.email else []


# -- what -------------------------------------------------------------------------------------------------------
def _compose(kind, rotation, *, approve=None, final=None):
    """(headline, extra body lines, recipient emails), or None when the news is out of date."""
    what = with_code_points(f"{rotation.secret.provider.name}:{rotation.secret.name}")  # no lookalike names
    requester = _requester_emails(rotation)
    if kind == "filed":
        if rotation.is_emergency and rotation.awaiting_review:
            return f"Emergency rotation of {what} awaits your post-incident review", [], _approver_emails(rotation)
        if not rotation.is_emergency and rotation.state == State.PENDING_APPROVAL:
            return f"Rotation of {what} needs your approval", [], _approver_emails(rotation)
    elif kind == "decided":
        decision = rotation.approvals.select_related("approver").filter(
            decision=Approval.Decision.APPROVED if approve else Approval.Decision.REJECTED).last()
        lines = [f"Decided by: {decision.approver.get_username()}"] if decision else []
        lines += [f"Comment: {decision.comment}"] if decision and decision.comment else []
        if not approve:
            return f"Rotation of {what} was rejected", lines, requester
        if final:
            return f"Rotation of {what} was approved and is queued", lines, requester
        given = rotation.approvals.filter(decision=Approval.Decision.APPROVED).count()
        return f"Rotation of {what} has {given} of {rotation.required_approvals} approvals", lines, requester
    elif kind == "finished" and rotation.state == State.SUCCEEDED:
        return f"Rotation of {what} succeeded", [f"New version: {rotation.new_version}"], requester
    elif kind == "finished" and rotation.state == State.NEEDS_ATTENTION:
        error = (rotation.error.strip().splitlines() or ["(no detail recorded)"])[0]
        approvers = [email for email in _approver_emails(rotation) if email not in requester]
        return f"Rotation of {what} needs attention", [f"Error: {error}"], requester + approvers
    return None


def _body(rotation, headline, lines, link):
    # Metadata only: the job has no secret value to leak, and the webhook URL (a credential) never appears.
    return "\n".join([
        f"{headline}.", "",
        f"Requested by: {rotation.requested_by_name or 'unknown'}",
        f"Trigger: {rotation.get_trigger_display()}",
        f"Reason: {rotation.reason}",
        f"State: {rotation.get_state_display()}",
        *lines, "", link, ""])


def send_rotation_notification_job(kind, request_id, notification=None, **extra):
    """RQ job (queue "default"): reload the request and tell people by email and the webhook, as configured.

    `notification`: the owed row. Taking it (a delete) comes first, so of two jobs for one row (the reconciler's
    and a late original) one sends. Jobs enqueued before there were rows carry none and just send.
    """
    if notification is not None and not PendingNotification.objects.filter(pk=notification).delete()[0]:
        return "already sent"
    rotation = RotationRequest.objects.select_related("secret__provider", "requested_by").filter(
        pk=request_id).first()
    composed = _compose(kind, rotation, **extra) if rotation is not None else None
    if composed is None:
        return "nothing to send"
    headline, lines, recipients = composed
    link = settings.DASHBOARD_URL.rstrip("/") + rotation.get_absolute_url()
    body = _body(rotation, headline, lines, link)
    sent = 0
    if settings.ROTATION_NOTIFY_EMAIL and recipients:
        subject = " ".join(f"[SecretsAdmin] {headline}".split())  # a newline in a name must not break the header
        # One message each, so recipients do not see who else was told.
        messages = [(subject, body, settings.DEFAULT_FROM_EMAIL, [email]) for email in recipients]
        try:
            sent = send_mass_mail(messages)
        except OSError as exc:  # smtplib's errors included
            log.warning("rotation %s: %s email not sent (%s)", request_id, kind, type(exc).__name__)
    if settings.ROTATION_NOTIFY_WEBHOOK_URL:
        try:
            text = _slack_escape("\n".join([f"{headline} (requested by {rotation.requested_by_name})", *lines]))
            _post_webhook(settings.ROTATION_NOTIFY_WEBHOOK_URL, f"{text}\n{link}")
        except requests.RequestException as exc:
            # Only the type and status: the URL of a Slack webhook is itself a credential.
            status = getattr(exc.response, "status_code", None)
            log.warning("rotation %s: %s webhook failed (%s%s)", request_id, kind, type(exc).__name__,
                        f" {status}" if status else "")
    return f"{kind}: {sent} email(s)"


# -- the webhook: Slack-compatible {"text": ...}, retried on connection errors and 5xx -------------------------
class WebhookServerError(requests.HTTPError):
    """The receiver answered 5xx: worth another try."""


def _slack_escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@retry(stop=stop_after_attempt(3), wait=wait_exponential(multiplier=1, max=5), reraise=True,
       retry=retry_if_exception_type((requests.ConnectionError, WebhookServerError)))
def _post_webhook(url, text):
    response = requests.post(url, json={"text": text}, timeout=WEBHOOK_TIMEOUT)
    if response.status_code >= 500:
        raise WebhookServerError(f"webhook answered {response.status_code}", response=response)
    response.raise_for_status()
