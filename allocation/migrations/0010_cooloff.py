"""Push rejections become cool-offs: a release keeps an item from its agent for a while too."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("allocation", "0009_external_deadline"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="pushrejection", name="pushrejection_agent_until"),
        migrations.RenameModel(old_name="PushRejection", new_name="CoolOff"),
        migrations.RenameField(model_name="cooloff", old_name="rejected_at", new_name="since"),
        migrations.AddField(
            model_name="cooloff",
            name="kind",
            field=models.CharField(choices=[("rejected", "Rejected (pushed to them)"), ("released", "Released")],
                                   default="rejected", max_length=10),
        ),
        migrations.AlterField(
            model_name="cooloff",
            name="item",
            field=models.ForeignKey(on_delete=models.deletion.CASCADE, related_name="cool_offs",
                                    to="allocation.workitem"),
        ),
        migrations.AddIndex(model_name="cooloff",
                            index=models.Index(fields=["item", "agent"], name="cooloff_item_agent")),
    ]
