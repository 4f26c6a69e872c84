"""Audit events in Django's admin: viewable, never addable, editable or deletable."""
from django.contrib import admin

from audit.models import AuditEvent
from secretsadmin.read_only_admin import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("sequence", "timestamp", "actor_name", "event_type", "outcome", "target_text")
    list_filter = ("event_type", "outcome")
    search_fields = ("actor_name", "secret_name", "target_text")
    ordering = ("-sequence",)
