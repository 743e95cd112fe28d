from django.db import migrations


class Migration(migrations.Migration):
    """Kept for the migration graph: the roles are synced once quality's permissions all
    exist (0005_role_permissions)."""

    dependencies = [
        ("quality", "0002_sampling_schedule"),
        ("wfo", "0003_notifications"),
        ("allocation", "0005_rebalancing_schedules"),
    ]

    operations = []
