"""Bind every existing integration user (the Source system role) to the sources it has
already sent items under, so its token keeps working once intake checks the binding."""

from django.db import migrations

SOURCE_SYSTEM = "Source system"  # core.roles.SOURCE_SYSTEM, as it is named at this migration


def bind_integrations(apps, schema_editor):
    User = apps.get_model("auth", "User")
    WorkItemEvent = apps.get_model("allocation", "WorkItemEvent")
    SourceBinding = apps.get_model("allocation", "SourceBinding")
    integrations = User.objects.filter(groups__name=SOURCE_SYSTEM).values_list("pk", flat=True)
    used = (
        WorkItemEvent.objects.filter(kind="created", actor_id__in=list(integrations))
        .values_list("actor_id", "item__source").distinct()
    )
    SourceBinding.objects.bulk_create(
        [SourceBinding(user_id=user_id, source=source) for user_id, source in used], ignore_conflicts=True,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("allocation", "0007_source_bindings"),
        ("wfo", "0004_role_permissions_axes"),  # the Source system group exists
    ]

    operations = [migrations.RunPython(bind_integrations, migrations.RunPython.noop)]
