from django.db import migrations


def schedule_create(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="15", hour="2", day_of_week="*", day_of_month="*", month_of_year="*"
    )
    PeriodicTask.objects.get_or_create(
        name="Quality sampling",
        defaults={"task": "quality.samples_draw", "crontab": nightly,
                  "description": "Draws yesterday's quality samples per sampling rule (idempotent per period)."},
    )


class Migration(migrations.Migration):
    dependencies = [
        ("quality", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule_create, migrations.RunPython.noop)]
