from django.db import migrations


def role_groups_sync(apps, schema_editor):
    from core.roles import role_groups_sync as sync

    sync(apps)  # admins may now see and clear login lockouts (django-axes)


class Migration(migrations.Migration):
    dependencies = [
        ("wfo", "0003_notifications"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [migrations.RunPython(role_groups_sync, migrations.RunPython.noop)]
