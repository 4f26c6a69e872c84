"""StepLog rows are written when a step ends; the step in progress is shown from the run (step_started_at).

Rows of earlier releases left "started" are converted: the current step of a run still in it becomes the run's
step_started_at (its row would otherwise show twice), any other was an attempt whose worker stopped: interrupted.
"""
import django.utils.timezone
from django.db import migrations, models

RUNNING = ("staging", "applying", "verifying", "promoting", "revoking_old")


def convert_started_rows(apps, schema_editor):
    StepLog = apps.get_model("rotation", "StepLog")
    RotationRequest = apps.get_model("rotation", "RotationRequest")
    current_taken = set()  # runs whose latest "started" row became their step_started_at
    for row in StepLog.objects.filter(outcome="started").select_related("request").order_by("request_id", "-pk"):
        run = row.request
        if run.state in RUNNING and run.state == row.step and run.pk not in current_taken:
            RotationRequest.objects.filter(pk=run.pk).update(step_started_at=row.started_at)
            current_taken.add(run.pk)  # its older "started" rows are attempts whose worker stopped
            row.delete()
        else:
            StepLog.objects.filter(pk=row.pk).update(outcome="interrupted")


def restore_started_rows(apps, schema_editor):
    StepLog = apps.get_model("rotation", "StepLog")
    RotationRequest = apps.get_model("rotation", "RotationRequest")
    StepLog.objects.filter(outcome="interrupted").update(outcome="started")
    for run in RotationRequest.objects.filter(state__in=RUNNING, step_started_at__isnull=False):
        StepLog.objects.create(request=run, step=run.state, attempt=run.attempts, outcome="started",
                               started_at=run.step_started_at)


class Migration(migrations.Migration):

    dependencies = [
        ("rotation", "0002_policies_requests_steps"),
    ]

    operations = [
        migrations.AddField(
            model_name="rotationrequest",
            name="step_started_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="steplog",
            name="outcome",
            field=models.CharField(choices=[("started", "Running"), ("succeeded", "Done"), ("failed", "Failed"),
                                            ("interrupted", "Interrupted")], default="started", max_length=16),
        ),
        migrations.AlterField(
            model_name="steplog",
            name="started_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.RunPython(convert_started_rows, restore_started_rows),
    ]
