"""Customer references are looked up whatever their case: a normalised key on every item.

The key is a stored generated column, so adding it fills it for every existing row (the
table is rewritten once, under lock: run it in a quiet hour on a large table), and
PostgreSQL keeps it for every row written after. The journey's index moves from the
reference as sent to the key.
"""

from django.db import migrations, models
from django.db.models.functions import Lower, Trim


class Migration(migrations.Migration):

    dependencies = [
        ("allocation", "0013_presence_reasons"),
    ]

    operations = [
        migrations.AddField(
            model_name="workitem",
            name="customer_key",
            field=models.GeneratedField(
                db_persist=True, expression=Lower(Trim(models.F("customer_ref"))),
                output_field=models.CharField(max_length=64),
            ),
        ),
        migrations.AddIndex(
            model_name="workitem",
            index=models.Index(fields=["customer_key"], name="workitem_customer_key"),
        ),
        migrations.RemoveIndex(
            model_name="workitem",
            name="workitem_customer_ref",
        ),
    ]
