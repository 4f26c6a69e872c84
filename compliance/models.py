"""Frozen compliance report snapshots (the control catalog arrives with the compliance issue)."""
import uuid

from django.conf import settings
from django.db import models


class ComplianceReport(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    framework = models.CharField(max_length=64)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    generated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    generated_at = models.DateTimeField(auto_now_add=True)
    results = models.JSONField(default=dict)
    sha256 = models.CharField(max_length=64, help_text="Hash of the frozen results")

    class Meta:
        ordering = ["-generated_at"]
        default_permissions = ("add", "view")
        permissions = [("export_compliancereport", "Can export compliance reports")]

    def __str__(self):
        return f"{self.framework} {self.period_start:%Y-%m-%d}..{self.period_end:%Y-%m-%d}"
