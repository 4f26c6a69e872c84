"""AuditEvent (append-only, hash-chained), the chain head that serialises appends, and verification results."""
import uuid

from django.conf import settings
from django.db import models

from audit.chain import HASHED_FIELDS, event_hash


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete audit history."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("audit events are append-only: they cannot be updated")

    def delete(self):
        raise AppendOnlyError("audit events are append-only: use the archive operation to prune")

    def _prune(self):
        # Only audit.retention.archive_and_prune calls this, after exporting the range.
        return super().delete()


# An audit row that does not say who, where or why: a person's row without the person (a failed sign-in names
# the account tried instead), a secret or rotation-step event without its provider and secret, a failure without
# its reason. The compliance report counts them; the partial index below keeps those few rows at hand.
INCOMPLETE = ((models.Q(actor_type="user", actor_id__isnull=True) & ~models.Q(event_type="auth.login_failed"))
              | models.Q(event_type="auth.login_failed", target_text="")
              | ((models.Q(event_type__startswith="secret.") | models.Q(event_type__startswith="rotation.step"))
                 & (models.Q(provider="") | models.Q(secret_name="")))
              | models.Q(outcome="failure", failure_reason=""))


class AuditEvent(models.Model):
    class ActorType(models.TextChoices):
        USER = "user", "User"
        SYSTEM = "system", "System"
        WORKER = "worker", "Worker"

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"

    sequence = models.BigIntegerField(unique=True)
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    timestamp = models.DateTimeField(db_index=True)
    # PROTECT: a user with history is deactivated, not deleted, so rows never change after the fact.
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    actor_name = models.CharField(max_length=150, blank=True, help_text="Copied at write time")
    actor_type = models.CharField(max_length=8, choices=ActorType.choices, default=ActorType.USER)
    event_type = models.CharField(max_length=64, db_index=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.SUCCESS)
    failure_reason = models.TextField(blank=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_text = models.CharField(max_length=512, blank=True, help_text="Copied at write time")
    provider = models.CharField(max_length=63, blank=True, db_index=True)
    secret_name = models.CharField(max_length=512, blank=True, db_index=True)
    details = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-sequence"]
        # For the compliance checks (migrations 0003 and 0004 say why).
        indexes = [models.Index(fields=["event_type", "timestamp"], name="audit_type_time_idx"),
                   models.Index(fields=["target_id", "event_type"], name="audit_target_type_idx"),
                   models.Index(fields=["actor", "timestamp"], name="audit_actor_time_idx"),
                   models.Index(fields=["sequence"], include=["timestamp"], condition=INCOMPLETE,
                                name="audit_incomplete_idx"),
                   # The dashboard's rotations-per-week chart (one row per rotation outcome, nothing else).
                   models.Index(fields=["timestamp"], include=["target_type", "target_id", "outcome"],
                                condition=models.Q(event_type="secret.rotation"), name="audit_rotation_outcome_idx")]
        # History is never added to, changed or deleted by hand: only viewing is a permission.
        default_permissions = ("view",)
        permissions = [
            ("export_auditevent", "Can export the audit log"),
            ("verify_auditevent", "Can verify the audit hash chain"),
        ]

    def __str__(self):
        return f"#{self.sequence} {self.event_type} by {self.actor_name or self.actor_type}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("audit events are append-only: they cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit events are append-only: they cannot be deleted")

    def hashed_fields(self):
        return {name: getattr(self, name) for name in HASHED_FIELDS}

    def content_matches_hash(self):
        return event_hash(self.prev_hash, self.hashed_fields()) == self.hash


class ChainHead(models.Model):
    """One row: the last sequence and hash. Locking it serialises appends across processes."""

    sequence = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    class Meta:
        default_permissions = ()

    def __str__(self):
        return f"chain head #{self.sequence}"


class ChainVerification(models.Model):
    """The result of each verification run, for the dashboard badge (not part of the chain)."""

    verified_at = models.DateTimeField(auto_now_add=True)
    ok = models.BooleanField()
    events_checked = models.BigIntegerField(default=0)
    last_sequence = models.BigIntegerField(null=True)
    first_broken_sequence = models.BigIntegerField(null=True)
    problem = models.CharField(max_length=32, blank=True)
    message = models.TextField(blank=True)
    duration_seconds = models.FloatField(default=0)

    class Meta:
        ordering = ["-verified_at"]
        default_permissions = ()
        get_latest_by = "verified_at"

    def __str__(self):
        state = "ok" if self.ok else f"broken at #{self.first_broken_sequence}"
        return f"verification {self.verified_at:%Y-%m-%d %H:%M} {state}"
