"""Snapshots: status and progress of the generation job, frozen canonical JSON, superseding; and (PostgreSQL) a
trigger that refuses deleting a report and changing a finished one, whoever asks."""
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

TRIGGER_SQL = """
CREATE OR REPLACE FUNCTION compliance_report_frozen() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'compliance reports cannot be deleted' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.uuid, NEW.framework, NEW.period_start, NEW.period_end, NEW.requested_at, NEW.generated_by_name)
        IS DISTINCT FROM (OLD.uuid, OLD.framework, OLD.period_start, OLD.period_end, OLD.requested_at,
                          OLD.generated_by_name)
       OR (OLD.status IN ('ready', 'failed')
           AND (NEW.status, NEW.frozen, NEW.sha256, NEW.summary, NEW.generated_at, NEW.error)
               IS DISTINCT FROM (OLD.status, OLD.frozen, OLD.sha256, OLD.summary, OLD.generated_at, OLD.error))
       OR (OLD.superseded_by_id IS NOT NULL AND NEW.superseded_by_id IS DISTINCT FROM OLD.superseded_by_id) THEN
        RAISE EXCEPTION 'compliance report % is frozen: only a newer report may supersede it', OLD.uuid
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER compliance_report_frozen
    BEFORE UPDATE OR DELETE ON compliance_compliancereport
    FOR EACH ROW EXECUTE FUNCTION compliance_report_frozen();
"""

DROP_SQL = """
DROP TRIGGER IF EXISTS compliance_report_frozen ON compliance_compliancereport;
DROP FUNCTION IF EXISTS compliance_report_frozen();
"""


def install_trigger(apps, schema_editor):
    # SQLite gets none: Django's test flush empties its tables with DELETE, which the trigger would refuse.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGER_SQL, params=None)


def remove_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SQL, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('compliance', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='compliancereport',
            options={'default_permissions': ('add', 'view'), 'ordering': ['-requested_at', '-pk'], 'permissions': [('export_compliancereport', 'Can export compliance reports')]},
        ),
        migrations.RemoveField(
            model_name='compliancereport',
            name='results',
        ),
        migrations.AddField(
            model_name='compliancereport',
            name='claimed_until',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='compliancereport',
            name='error',
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name='compliancereport',
            name='frozen',
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name='compliancereport',
            name='generated_by_name',
            field=models.CharField(blank=True, max_length=150),
        ),
        migrations.AddField(
            model_name='compliancereport',
            name='job_id',
            field=models.CharField(blank=True, max_length=100),
        ),
        migrations.AddField(
            model_name='compliancereport',
            name='progress_done',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='compliancereport',
            name='progress_total',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='compliancereport',
            name='requested_at',
            field=models.DateTimeField(auto_now_add=True, db_index=True, default=django.utils.timezone.now),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='compliancereport',
            name='started_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='compliancereport',
            name='status',
            field=models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('ready', 'Ready'), ('failed', 'Failed')], default='queued', max_length=16),
        ),
        migrations.AddField(
            model_name='compliancereport',
            name='summary',
            field=models.JSONField(blank=True, default=dict, help_text="The results' status counts, for the list"),
        ),
        migrations.AddField(
            model_name='compliancereport',
            name='superseded_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='compliancereport',
            name='superseded_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='compliance.compliancereport'),
        ),
        migrations.AlterField(
            model_name='compliancereport',
            name='generated_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='compliancereport',
            name='period_end',
            field=models.DateField(),
        ),
        migrations.AlterField(
            model_name='compliancereport',
            name='period_start',
            field=models.DateField(),
        ),
        migrations.AlterField(
            model_name='compliancereport',
            name='sha256',
            field=models.CharField(blank=True, help_text='SHA-256 of the frozen canonical JSON', max_length=64),
        ),
        migrations.AddIndex(
            model_name='compliancereport',
            index=models.Index(fields=['framework', 'period_start', 'period_end'], name='compliance_same_period'),
        ),
        migrations.RunPython(install_trigger, remove_trigger),
    ]
