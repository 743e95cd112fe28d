from django.db import migrations

NAME = "SLA threshold actions"


def schedule_create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.get_or_create(name=NAME, defaults={
        "task": "allocation.sla_actions_run", "interval": every_minute,
        "description": "The actions of the SLA thresholds the alert job found crossed (raise priority, enter a "
                       "routing step, move, assign, notify), each once per item, in the policy's order.",
    })


def schedule_delete(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("allocation", "0027_sla_threshold_actions"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule_create, schedule_delete)]
