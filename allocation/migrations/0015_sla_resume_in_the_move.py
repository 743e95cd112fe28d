"""A pended item's SLA pause now ends in the transaction that moves it. Before, get-next's
statement only marked the end (`resumed_at`) and the paused working time was added up
right after, or by the alert scan if that was interrupted. Pauses so marked and not yet
added up are added up here, then the column goes."""

from django.db import migrations


def settle_marked_pauses(apps, schema_editor):
    SlaClock = apps.get_model("allocation", "SlaClock")
    marked = list(SlaClock.objects.filter(resumed_at__isnull=False).values_list("item_id", "resumed_at"))
    if not marked:  # a database that never ran the previous version, or had nothing pending
        return
    # The arithmetic is the SLA engine's (calendars, the governing deadline): the service of
    # this version, on a schema it matches until the column below is removed.
    from allocation.models import WorkItem
    from allocation.services import sla_clock

    for item_id, resumed_at in marked:
        item = WorkItem.objects.select_related("queue").get(pk=item_id)
        if sla_clock.clock_resume(item=item, at=resumed_at):
            item.save(update_fields=["due_at", "start_by"])


class Migration(migrations.Migration):

    dependencies = [
        ("allocation", "0014_customer_key"),
    ]

    operations = [
        migrations.RunPython(settle_marked_pauses, migrations.RunPython.noop, elidable=True),
        migrations.RemoveField(
            model_name="slaclock",
            name="resumed_at",
        ),
    ]
