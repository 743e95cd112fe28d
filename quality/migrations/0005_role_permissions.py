from django.db import migrations


def role_groups_sync(apps, schema_editor):
    from core.roles import role_groups_sync as sync

    sync(apps)


class Migration(migrations.Migration):
    dependencies = [("quality", "0004_disputes_rework_calibration")]

    operations = [migrations.RunPython(role_groups_sync, migrations.RunPython.noop)]
