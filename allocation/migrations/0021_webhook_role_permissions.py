from django.db import migrations


def role_groups_sync(apps, schema_editor):
    # The Admin role gets every allocation permission: those of the webhook models too.
    from core.roles import role_groups_sync as sync

    sync(apps)


class Migration(migrations.Migration):
    dependencies = [("allocation", "0020_webhooks")]

    operations = [migrations.RunPython(role_groups_sync, migrations.RunPython.noop)]
