from django.db import migrations

NAME = "Routing steps"


def schedule_create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.get_or_create(name=NAME, defaults={
        "task": "allocation.routing_advance", "interval": every_minute,
        "description": "Queued items of queues whose routing is on enter the next routing step when its condition "
                       "holds (waited, backlog, no agent available), once per item and step.",
    })


def schedule_delete(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("allocation", "0016_routing_steps"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule_create, schedule_delete)]
