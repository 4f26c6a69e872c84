"""Compliance report snapshots: frozen results with their SHA-256 digest; never edited or deleted, only superseded."""
import json
import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse


class SnapshotImmutable(Exception):
    """Raised when code tries to edit or delete a frozen snapshot (a newer one supersedes it instead)."""


class ComplianceReportQuerySet(models.QuerySet):
    """Updates are limited to the work on an unfinished snapshot and to marking a ready one superseded.

    Each kind of update is narrowed to the rows it may touch, so a frozen snapshot is never rewritten even by
    a bulk update that names it: the caller gets the count of rows actually changed.
    """

    def update(self, **kwargs):
        fields = set(kwargs)
        if fields <= ComplianceReport.WORK_FIELDS:
            return self._update_rows(self.filter(status__in=ComplianceReport.OPEN_STATES), kwargs)
        if fields <= ComplianceReport.SUPERSEDE_FIELDS:
            return self._update_rows(self.filter(status=ComplianceReport.Status.READY, superseded_by__isnull=True),
                                     kwargs)
        raise SnapshotImmutable(f"a compliance report's {', '.join(sorted(fields))} cannot be changed")

    def _update_rows(self, queryset, kwargs):
        return models.QuerySet.update(queryset, **kwargs)

    def delete(self):
        raise SnapshotImmutable("compliance reports cannot be deleted; a newer report supersedes them")


class ComplianceReport(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    OPEN_STATES = (Status.QUEUED, Status.RUNNING)
    # What the generation job may write while the snapshot is open (queued or running).
    WORK_FIELDS = frozenset({"status", "progress_done", "progress_total", "error", "job_id", "claimed_until",
                             "started_at", "generated_at", "frozen", "sha256", "summary"})
    # What may change on a ready snapshot, once: a newer one of the same framework and period supersedes it.
    SUPERSEDE_FIELDS = frozenset({"superseded_by", "superseded_at"})

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    framework = models.CharField(max_length=64)
    period_start = models.DateField()
    period_end = models.DateField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    requested_at = models.DateTimeField(auto_now_add=True, db_index=True)
    generated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    # Copied when requested: the report still says who generated it after the account is gone.
    generated_by_name = models.CharField(max_length=150, blank=True)
    # Progress of the generation job: evidence checks done out of the framework's total.
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    job_id = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # The generating worker's lease: a run whose worker died can be claimed again once it lapses.
    claimed_until = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    generated_at = models.DateTimeField(null=True, blank=True)
    # The canonical JSON of {"inputs": ..., "results": ...}, kept as text so that it is byte for byte what
    # was hashed (a jsonb column would renormalise numbers and key order).
    frozen = models.TextField(blank=True)
    sha256 = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the frozen canonical JSON")
    summary = models.JSONField(default=dict, blank=True, help_text="The results' status counts, for the list")
    superseded_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    superseded_at = models.DateTimeField(null=True, blank=True)

    objects = ComplianceReportQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at", "-pk"]
        default_permissions = ("add", "view")
        permissions = [("export_compliancereport", "Can export compliance reports")]
        indexes = [models.Index(fields=["framework", "period_start", "period_end"], name="compliance_same_period")]

    def __str__(self):
        return f"{self.framework} {self.period_start:%Y-%m-%d}..{self.period_end:%Y-%m-%d}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise SnapshotImmutable("compliance reports are changed only by their services, never saved again")
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("compliance:snapshot_detail", args=[self.uuid])

    def delete(self, *args, **kwargs):
        raise SnapshotImmutable("compliance reports cannot be deleted; a newer report supersedes them")

    @property
    def framework_name(self):
        from compliance.catalog import UnknownFramework, get_framework

        try:
            framework = get_framework(self.framework)
        except UnknownFramework:  # a framework since dropped from the catalog: the frozen report still names it
            return self.framework
        return f"{framework.name} {framework.version}"

    @property
    def display_status(self):
        return "superseded" if self.superseded_by_id else self.status

    @property
    def is_open(self):
        return self.status in self.OPEN_STATES

    @property
    def is_ready(self):
        return self.status == self.Status.READY

    @property
    def progress_percent(self):
        return int(100 * self.progress_done / self.progress_total) if self.progress_total else 0

    def frozen_content(self):
        """The frozen {"inputs", "results"} as Python data (empty until the snapshot is ready)."""
        return json.loads(self.frozen) if self.frozen else {}
