from django.db import migrations


def role_groups_sync(apps, schema_editor):
    from core.roles import role_groups_sync as sync

    sync(apps)  # the Quality evaluator and Quality lead roles; supervisors no longer decide disputes


class Migration(migrations.Migration):
    dependencies = [
        ("wfo", "0004_role_permissions_axes"),
        ("allocation", "0008_bind_integrations_to_their_sources"),
        ("quality", "0008_decided_by_quality_lead"),
    ]

    operations = [migrations.RunPython(role_groups_sync, migrations.RunPython.noop)]
