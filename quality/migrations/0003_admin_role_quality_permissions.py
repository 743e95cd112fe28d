from django.db import migrations


def role_groups_sync(apps, schema_editor):
    from wfo.roles import role_groups_sync as sync

    sync(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("quality", "0002_sampling_schedule"),
        ("wfo", "0003_notifications"),
        ("allocation", "0005_rebalancing_schedules"),
    ]

    operations = [migrations.RunPython(role_groups_sync, migrations.RunPython.noop)]
