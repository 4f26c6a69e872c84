"""Rotation policies, rotation requests and their approvals (behaviour arrives with the rotation issue)."""
import uuid

from django.conf import settings
from django.db import models

from providers.models import Secret


class RotationPolicy(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100, unique=True)
    interval_days = models.PositiveIntegerField(default=90)
    generator = models.JSONField(default=dict, blank=True, help_text="length, alphabet classes, exclusions")
    required_approvals = models.PositiveSmallIntegerField(default=1)
    grace_period_hours = models.PositiveIntegerField(default=24)
    auto_approve_scheduled = models.BooleanField(default=False)
    target = models.JSONField(default=dict, blank=True, help_text="What else changes: none, PostgreSQL role, webhook")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "rotation policies"

    def __str__(self):
        return self.name


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
        APPLYING = "applying", "Applying"
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
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.TextField()
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    state = models.CharField(max_length=32, choices=State.choices, default=State.PENDING_APPROVAL, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    old_version = models.CharField(max_length=256, blank=True)
    new_version = models.CharField(max_length=256, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"rotation of {self.secret} ({self.get_state_display()})"


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
