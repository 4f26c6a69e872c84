"""Two more indexes for the compliance report's questions to the audit log (measured over 1,000,000 events).

(actor, timestamp): "who acted in the period", one probe per person instead of reading every row of the period.
A partial index of the incomplete rows (audit.models.INCOMPLETE), by sequence: only rows missing who, where or
why get an entry, so a healthy log's appends never write to it, and counting or listing a period's incomplete rows
reads that short index. The condition is frozen here as written: a change to INCOMPLETE needs a migration.
"""
from django.conf import settings
from django.db import migrations, models

Q = models.Q


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_report_indexes"), migrations.swappable_dependency(settings.AUTH_USER_MODEL)]

    operations = [
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["actor", "timestamp"], name="audit_actor_time_idx"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                condition=Q(
                    Q(("actor_id__isnull", True), ("actor_type", "user"),
                      Q(("event_type", "auth.login_failed"), _negated=True)),
                    Q(("event_type", "auth.login_failed"), ("target_text", "")),
                    Q(Q(("event_type__startswith", "secret."), ("event_type__startswith", "rotation.step"),
                        _connector="OR"),
                      Q(("provider", ""), ("secret_name", ""), _connector="OR")),
                    Q(("failure_reason", ""), ("outcome", "failure")),
                    _connector="OR",
                ),
                fields=["sequence"],
                include=["timestamp"],
                name="audit_incomplete_idx",
            ),
        ),
    ]
