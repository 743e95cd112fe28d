from django.db import migrations

SCHEDULES = [
    ("Reservation expiry", "allocation.reservations_expire",
     "Assigned items not started within their queue's reservation timeout go back to the queue."),
    ("Rebalancing", "allocation.rebalance",
     "Items of agents away or offline past the grace period (WFO_REBALANCE_GRACE_MINUTES) or over capacity, due "
     "follow-ups, and items of agents who lost the team or skills move on; idle agents go offline."),
    ("Push allocation", "allocation.push_assign",
     "Queued items of push-mode queues go to eligible available agents, least recently assigned first."),
]


def schedules_create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    for name, task, description in SCHEDULES:
        PeriodicTask.objects.get_or_create(
            name=name, defaults={"task": task, "interval": every_minute, "description": description}
        )


class Migration(migrations.Migration):
    dependencies = [
        ("allocation", "0004_rebalancing"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedules_create, migrations.RunPython.noop)]
