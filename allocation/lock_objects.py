"""The row locks of the ORM paths, in one place.

Lock order, always: agent profile(s) first (by id), then work items (by id), then their SLA
clocks (services/sla_clock.py, within the same transaction). Every path that changes what
an agent holds or the state of an item takes these locks. The two hot
paths take the same locks in SQL, in the same order: get-next (services/next_work.py:
the agent row FOR UPDATE, then one item FOR UPDATE SKIP LOCKED) and the start fast path
(services/lifecycle.py: the item row through its guarded UPDATE).
"""

from __future__ import annotations

from django.db.models import QuerySet

from allocation.exceptions import ItemNotFound
from allocation.models import AgentProfile, WorkItem


def item_lock(item_id: int) -> WorkItem:
    """Lock one item (waiting for any holder of the lock) and return its current row."""
    try:
        return WorkItem.objects.select_for_update(of=("self",)).select_related("queue").get(pk=item_id)
    except WorkItem.DoesNotExist:
        raise ItemNotFound(f"Work item #{item_id} does not exist.") from None


def agents_lock(agent_ids: list[int]) -> QuerySet[AgentProfile]:
    return AgentProfile.objects.select_for_update().filter(pk__in=agent_ids).order_by("pk")
