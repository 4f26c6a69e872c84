"""Audit events in Django's admin: viewable, never addable, editable or deletable."""
from django.contrib import admin

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("sequence", "timestamp", "actor_name", "event_type", "outcome", "target_text")
    list_filter = ("event_type", "outcome")
    search_fields = ("actor_name", "secret_name", "target_text")
    ordering = ("-sequence",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
