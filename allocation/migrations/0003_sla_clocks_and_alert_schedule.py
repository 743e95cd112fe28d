from django.db import migrations

# Items taken in before the SLA engine ran on their queue's plain 24×7 target: give each
# open one a clock on that target with the default warnings (50, 75, 90, then the breach),
# its next alert being the first threshold it has not reached yet.
OPEN_ITEM_CLOCKS = """
INSERT INTO allocation_slaclock (item_id, calendar_id, target, thresholds, pause_when_pended, paused_working,
                                 paused_since, resumed_at, next_threshold, next_alert_at, stopped_at)
SELECT w.id, NULL, q.sla_target, ARRAY[50, 75, 90, 100]::smallint[], true, interval '0',
       CASE WHEN w.status = 'pended' THEN w.updated_at END, NULL, t.pct,
       CASE WHEN w.status = 'pended' THEN NULL ELSE w.received_at + q.sla_target * t.pct / 100 END, NULL
  FROM allocation_workitem w
  JOIN allocation_queue q ON q.id = w.queue_id
  CROSS JOIN LATERAL (
        SELECT coalesce(min(p), 100) AS pct FROM unnest(ARRAY[50, 75, 90, 100]) AS p
         WHERE w.received_at + q.sla_target * p / 100 > now()
  ) t
 WHERE w.status IN ('queued', 'assigned', 'in_progress', 'pended')
ON CONFLICT (item_id) DO NOTHING
"""


def alert_schedule_create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.get_or_create(
        name="SLA alerts",
        defaults={
            "task": "allocation.sla_alerts_raise",
            "interval": every_minute,
            "description": "Raises each SLA warning and breach once per item and threshold, in the portal and "
                           "by e-mail. Change the interval here.",
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ("allocation", "0002_sla_engine"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunSQL(OPEN_ITEM_CLOCKS, migrations.RunSQL.noop),
        migrations.RunPython(alert_schedule_create, migrations.RunPython.noop),
    ]
