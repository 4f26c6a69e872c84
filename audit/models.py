"""AuditEvent: one row per audited action. Append-only; the hash chain is added by the audit issue."""
import uuid

from django.conf import settings
from django.db import models


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
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_name = models.CharField(max_length=150, blank=True, help_text="Copied at write time")
    actor_type = models.CharField(max_length=8, choices=ActorType.choices, default=ActorType.USER)
    event_type = models.CharField(max_length=64, db_index=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.SUCCESS)
    failure_reason = models.TextField(blank=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_text = models.CharField(max_length=512, blank=True, help_text="Copied at write time")
    provider = models.CharField(max_length=63, blank=True)
    secret_name = models.CharField(max_length=512, blank=True, db_index=True)
    details = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-sequence"]
        # History is never added to, changed or deleted by hand: only viewing is a permission.
        default_permissions = ("view",)
        permissions = [
            ("export_auditevent", "Can export the audit log"),
            ("verify_auditevent", "Can verify the audit hash chain"),
        ]

    def __str__(self):
        return f"#{self.sequence} {self.event_type} by {self.actor_name or self.actor_type}"
