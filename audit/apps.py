"""The append-only audit trail every other app writes to."""
from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"

    def ready(self):
        from audit import signals  # noqa: F401  (connects the auth signal receivers)
