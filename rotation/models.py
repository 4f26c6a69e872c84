"""Rotation policies and where they apply, rotation requests (each one a persisted state machine), approvals."""
import uuid

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from providers.models import Provider, Secret

MIN_SECRET_LENGTH = 16


class RotationPolicy(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    interval_days = models.PositiveIntegerField(default=90, validators=[MinValueValidator(1)])
    # The generator: generate_secure_secret() draws from these classes with the secrets module.
    length = models.PositiveSmallIntegerField(default=32, validators=[MinValueValidator(MIN_SECRET_LENGTH),
                                                                      MaxValueValidator(4096)])
    use_lowercase = models.BooleanField(default=True)
    use_uppercase = models.BooleanField(default=True)
    use_digits = models.BooleanField(default=True)
    use_symbols = models.BooleanField(default=False)
    exclude_characters = models.CharField(max_length=100, blank=True,
                                          help_text="Characters the consumer cannot take, e.g. quotes")
    required_approvals = models.PositiveSmallIntegerField(
        default=1, help_text="Distinct approvers needed; 0 only applies to scheduled runs that auto-approve")
    approver_groups = models.ManyToManyField(
        Group, blank=True, related_name="+",
        help_text="Only members of these groups may approve (empty: anyone holding approve permission)")
    grace_period_hours = models.PositiveIntegerField(default=24, help_text="Old version stays valid this long")
    auto_approve_scheduled = models.BooleanField(default=False,
                                                 help_text="Scheduled rotations start without approval")
    target = models.JSONField(default=dict, blank=True, help_text="What else changes: none, PostgreSQL role, webhook")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "rotation policies"

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("rotation:policy_detail", args=[self.uuid])


class PolicyAssignment(models.Model):
    """Attaches a policy to one secret, or by rule to a provider / environment / tag (all given must match).

    The secret's own assignment wins; among rules the lowest priority number wins, then the oldest rule.
    """

    policy = models.ForeignKey(RotationPolicy, on_delete=models.CASCADE, related_name="assignments")
    secret = models.ForeignKey(Secret, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    provider = models.ForeignKey(Provider, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    environment = models.CharField(max_length=64, blank=True)
    tag_key = models.CharField(max_length=128, blank=True)
    tag_value = models.CharField(max_length=256, blank=True)
    priority = models.PositiveIntegerField(default=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["priority", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["secret"], condition=Q(secret__isnull=False),
                                    name="one_policy_per_secret"),
            models.CheckConstraint(
                condition=Q(secret__isnull=False) | Q(provider__isnull=False) | ~Q(environment="") | ~Q(tag_key=""),
                name="assignment_matches_something"),
        ]

    def __str__(self):
        return f"{self.policy} for {self.describe()}"

    def describe(self):
        if self.secret_id:
            return f"secret {self.secret}"
        parts = []
        if self.provider_id:
            parts.append(f"provider {self.provider}")
        if self.environment:
            parts.append(f"environment {self.environment}")
        if self.tag_key:
            parts.append(f"tag {self.tag_key}={self.tag_value}" if self.tag_value else f"tag {self.tag_key}")
        return ", ".join(parts)


class RotationRequest(models.Model):
    class Trigger(models.TextChoices):
        MANUAL = "manual", "Manual"
        SCHEDULED = "scheduled", "Scheduled"
        EMERGENCY = "emergency", "Emergency"

    class State(models.TextChoices):
        PENDING_APPROVAL = "pending_approval", "Pending approval"
        APPROVED = "approved", "Approved"
        QUEUED = "queued", "Queued"
        STAGING = "staging", "Staging"
        APPLYING = "applying", "Applying to target"
        VERIFYING = "verifying", "Verifying"
        PROMOTING = "promoting", "Promoting"
        GRACE = "grace", "Grace period"
        REVOKING_OLD = "revoking_old", "Revoking old version"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED_RETRYABLE = "failed_retryable", "Failed (will retry)"
        NEEDS_ATTENTION = "needs_attention", "Needs attention"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Expired"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    secret = models.ForeignKey(Secret, on_delete=models.PROTECT, related_name="rotation_requests")
    policy = models.ForeignKey(RotationPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # What runs is exactly what was approved: the policy's generator, grace and target, copied on request.
    frozen_policy = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    requested_by_name = models.CharField(max_length=150, blank=True)
    reason = models.TextField()
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    state = models.CharField(max_length=32, choices=State.choices, default=State.PENDING_APPROVAL, db_index=True)
    # The step a failed_retryable run resumes at.
    resume_state = models.CharField(max_length=32, choices=State.choices, blank=True)
    required_approvals = models.PositiveSmallIntegerField(default=1)
    attempts = models.PositiveIntegerField(default=0)
    old_version = models.CharField(max_length=256, blank=True)
    new_version = models.CharField(max_length=256, blank=True)
    error = models.TextField(blank=True)
    # A worker's claim on the run: a lease, so that a killed worker's claim lapses on its own.
    claimed_by = models.CharField(max_length=200, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    grace_until = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    job_id = models.CharField(max_length=100, blank=True, help_text="The latest RQ job enqueued for this run")
    expires_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # When the step the run is in (its state) was entered by the attempt now running it: the run page's live row.
    step_started_at = models.DateTimeField(null=True, blank=True)
    promoted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Emergency rotations open a post-incident review that an Approver must acknowledge.
    review_required = models.BooleanField(default=False)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    OPEN_STATES = (
        State.PENDING_APPROVAL, State.APPROVED, State.QUEUED, State.STAGING, State.APPLYING, State.VERIFYING,
        State.PROMOTING, State.GRACE, State.REVOKING_OLD, State.FAILED_RETRYABLE, State.NEEDS_ATTENTION,
    )
    RUNNING_STATES = (State.STAGING, State.APPLYING, State.VERIFYING, State.PROMOTING, State.REVOKING_OLD)
    # States a worker may pick up and carry on from.
    RUNNABLE_STATES = (State.APPROVED, State.QUEUED, *RUNNING_STATES, State.GRACE, State.FAILED_RETRYABLE)
    FINAL_STATES = (State.SUCCEEDED, State.REJECTED, State.CANCELLED, State.EXPIRED)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # One live rotation per secret, whatever the workers do.
            models.UniqueConstraint(
                fields=["secret"],
                condition=Q(state__in=[
                    "pending_approval", "approved", "queued", "staging", "applying", "verifying", "promoting",
                    "grace", "revoking_old", "failed_retryable", "needs_attention",
                ]),
                name="one_open_rotation_per_secret",
            ),
        ]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="rotation_state_next_idx")]

    def __str__(self):
        return f"rotation of {self.secret} ({self.get_state_display()})"

    def get_absolute_url(self):
        return reverse("rotation:request_detail", args=[self.uuid])

    @property
    def token(self):
        """The provider-side idempotency token: the same for every attempt of this run."""
        return str(self.uuid)

    @property
    def is_open(self):
        return self.state in self.OPEN_STATES

    @property
    def is_running(self):
        return self.state in self.RUNNING_STATES

    @property
    def is_emergency(self):
        return self.trigger == self.Trigger.EMERGENCY

    @property
    def awaiting_review(self):
        return self.review_required and self.reviewed_at is None


class Approval(models.Model):
    class Decision(models.TextChoices):
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    request = models.ForeignKey(RotationRequest, on_delete=models.CASCADE, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=8, choices=Decision.choices)
    comment = models.TextField(blank=True)
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["decided_at"]
        constraints = [models.UniqueConstraint(fields=["request", "approver"], name="one_decision_per_approver")]

    def __str__(self):
        return f"{self.get_decision_display()} by {self.approver} on {self.request_id}"


class StepLog(models.Model):
    """One attempt at a step of a run, written when it ends: when it started and finished, and how (the run
    page's timeline). The step in progress is not a row yet: the page shows it from the run's state."""

    class Outcome(models.TextChoices):
        STARTED = "started", "Running"  # the step in progress (unsaved, on the run page); rows of older releases
        SUCCEEDED = "succeeded", "Done"
        FAILED = "failed", "Failed"
        INTERRUPTED = "interrupted", "Interrupted"  # its worker stopped mid-step; another took the run over

    request = models.ForeignKey(RotationRequest, on_delete=models.CASCADE, related_name="steps")
    step = models.CharField(max_length=32, choices=RotationRequest.State.choices)
    attempt = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.STARTED)
    detail = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["started_at", "pk"]

    def __str__(self):
        return f"{self.get_step_display()} ({self.get_outcome_display()})"

    @property
    def duration(self):
        return self.finished_at - self.started_at if self.finished_at else None


class PendingNotification(models.Model):
    """A notification owed and not yet handed to a worker's job (an outbox): written in the transaction of the
    change it tells of, deleted by the job that sends it. While Redis is down at that commit the row stays, and
    the reconciler enqueues it again at `retry_at`, so an approver is still told of a request."""

    request = models.ForeignKey(RotationRequest, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16)  # filed | decided | finished (rotation.notifications)
    extra = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    retry_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return f"{self.kind} notification of {self.request_id}"
