import django.contrib.postgres.fields
from django.db import migrations, models

# A queue's step reach: the highest position any of its routing steps has had. An item keeps
# the position of a step deleted or moved since, so its queue's items may be at any position
# up to the reach and at none beyond; get-next reads the heads of the positions up to it only
# (allocation/services/next_work.py), not of every position up to LAST_STEP. Kept by a
# trigger on the steps, whatever writes them (admin, services, SQL), and never lowered: a row
# of its own rather than a queue column, so no save of a queue read before can lower it. No
# foreign key: a reach too high costs an empty read, never a hidden item, and a deleted
# queue's row is harmless (flushing the queues, as tests do, need not know of it).
# Nothing else moves an item past step 1: a move to another queue starts its routing at step 1.
STEP_REACH = """
CREATE TABLE allocation_queue_step_reach (
    queue_id bigint PRIMARY KEY,
    last_position smallint NOT NULL
);
CREATE FUNCTION allocation_step_reach_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO allocation_queue_step_reach (queue_id, last_position) VALUES (NEW.queue_id, NEW.position)
        ON CONFLICT (queue_id) DO UPDATE SET last_position = EXCLUDED.last_position
        WHERE allocation_queue_step_reach.last_position < EXCLUDED.last_position;
    RETURN NULL;
END
$$;
CREATE TRIGGER step_reach_kept AFTER INSERT OR UPDATE OF position, queue_id ON allocation_routingstep
    FOR EACH ROW EXECUTE FUNCTION allocation_step_reach_keep();
-- The eligibility rule reads the reach: like every table it reads, a change moves the version
-- on (migration 0019), though only the steps' trigger above writes it.
CREATE TRIGGER eligibility_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON allocation_queue_step_reach
    FOR EACH STATEMENT EXECUTE FUNCTION allocation_eligibility_changed();
-- What the queues reach now: their steps, and the positions their items keep.
INSERT INTO allocation_queue_step_reach (queue_id, last_position)
SELECT queue_id, max(position) FROM (
    SELECT queue_id, position FROM allocation_routingstep
     UNION ALL
    SELECT queue_id, routing_step FROM allocation_workitem
     WHERE routing_step > 1
) AS reached GROUP BY queue_id;
-- Every kept copy was judged without the reach: judge them all again.
DELETE FROM allocation_agenteligibility;
"""
DROP_STEP_REACH = """
DROP TRIGGER eligibility_changed ON allocation_queue_step_reach;
DROP TRIGGER step_reach_kept ON allocation_routingstep;
DROP FUNCTION allocation_step_reach_keep();
DROP TABLE allocation_queue_step_reach;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('allocation', '0023_webhook_due_order'),
    ]

    operations = [
        migrations.AddField(
            model_name='agenteligibility',
            name='last_steps',
            field=django.contrib.postgres.fields.ArrayField(base_field=models.PositiveSmallIntegerField(), default=list, size=None),
        ),
        migrations.RunSQL(STEP_REACH, DROP_STEP_REACH),
    ]
