from django.db import migrations


def schedule_create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.get_or_create(name="Report rollups", defaults={
        "task": "reporting.rollups_update", "interval": every_minute,
        "description": "Recompute the days of the report rollups touched by new events, evaluations and presence "
                       "changes (history reports, scorecards and the capacity plan read them).",
    })


class Migration(migrations.Migration):
    dependencies = [
        ("reporting", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule_create, migrations.RunPython.noop)]
