from django.db import migrations


def role_groups_create(apps, schema_editor):
    from core.roles import role_groups_sync

    role_groups_sync(apps)


def heartbeat_schedule_create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.get_or_create(
        name="Worker heartbeat",
        defaults={"task": "wfo.worker_heartbeat", "interval": every_minute,
                  "description": "Records that a Celery worker is alive (see Portal › Worker heartbeats)."},
    )


class Migration(migrations.Migration):
    dependencies = [
        ("wfo", "0001_initial"),
        ("allocation", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("authtoken", "0004_alter_tokenproxy_options"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(role_groups_create, migrations.RunPython.noop),
        migrations.RunPython(heartbeat_schedule_create, migrations.RunPython.noop),
    ]
