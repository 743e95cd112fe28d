"""Push allocation (DESIGN.md, "Push mode"): queued items of push-mode queues go to the
eligible available agent least recently assigned, in start-by order. The periodic job is
allocation/tasks.py's; how an item moves, and why that agent, is
allocation/services/moves.py and allocation/eligibility.py.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from allocation import events
from allocation.models import AllocationMode, ItemStatus, WorkItem
from allocation.services.moves import BATCH, MoveCount, move_one
from core.actors import SystemActor

PUSH_ALLOCATION = SystemActor("push-allocation")


def push_assign(*, now: datetime | None = None, batch_size: int = BATCH) -> MoveCount:
    """Queued items of push-mode queues go to eligible available agents with spare capacity,
    least recently assigned first (in start-by order); an item nobody can take waits."""
    now = now or timezone.now()

    def waiting(item: WorkItem) -> bool:
        return item.status == ItemStatus.QUEUED and item.queue.allocation_mode == AllocationMode.PUSH

    count = MoveCount()
    items = WorkItem.objects.filter(
        status=ItemStatus.QUEUED, queue__allocation_mode=AllocationMode.PUSH, queue__is_active=True
    ).order_by("start_by", "-priority", "received_at", "id")
    for item_id in list(items.values_list("pk", flat=True)[:batch_size]):
        count.add(move_one(item_id, actor=PUSH_ALLOCATION, event=events.assigned, rule=events.RULE_PUSH,
                        still_applies=waiting, now=now, reason="", to_agent=True))
    return count
