"""Indexes for the compliance checks' questions to the audit log (measured over 1,000,000 events).

(event_type, timestamp): "events of this type in the period", in time order, without reading every row of the
period; (target_id, event_type): "did this run / request get its event", probed once per row being checked.
"""
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only")]

    operations = [
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["event_type", "timestamp"], name="audit_type_time_idx"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["target_id", "event_type"], name="audit_target_type_idx"),
        ),
    ]
