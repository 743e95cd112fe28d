"""The routing job: items enter the routing steps whose condition holds (allocation/routing.py
states the rule; this is the one place that moves items through steps).

A pass reads its plan once — every step of every routed queue judged at one `now`, on
the state as it found it, so what the admin's preview shows is what it does — then
enters the planned items batch by batch, each batch one short transaction: lock the
items with SKIP LOCKED, keep those still waiting at the step before (an agent may have
taken one, an overlapping pass moved it), move them and write one step_entered event
each. Exactly once per (item, step) is that re-check under the row lock; a pass killed
between batches leaves every batch whole, and the next pass plans the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from allocation import events, routing, sla
from allocation.models import FIRST_STEP, ItemStatus, RoutingStep, StepAction, WorkItem, WorkItemEvent
from allocation.services.moves import BATCH, moved_at
from core.actors import SystemActor

ROUTER = SystemActor("routing")


@dataclass
class RoutingResult:
    entered: dict[int, int] = field(default_factory=dict)  # step id → items that entered it
    skipped: int = 0  # taken, moved or locked meanwhile
    blocked: list[str] = field(default_factory=list)

    @property
    def moved(self) -> int:
        return sum(self.entered.values())


def routing_advance(*, now: datetime | None = None, batch_size: int = BATCH, limit: int = routing.STEP_LIMIT,
                    ) -> RoutingResult:
    """One pass of the routing job (see the module's docstring)."""
    now = now or timezone.now()
    result = RoutingResult()
    for due in routing.plan(now=now, limit=limit):
        if due.blocked:
            result.blocked.append(f"{due.step}: {due.blocked}")
            continue
        for start in range(0, len(due.item_ids), batch_size):
            entered = step_enter(due.item_ids[start:start + batch_size], step=due.step, from_step=due.previous,
                                 reason=due.reason, now=now)
            result.entered[due.step.pk] = result.entered.get(due.step.pk, 0) + entered
            result.skipped += min(batch_size, len(due.item_ids) - start) - entered
    return result


@transaction.atomic
def step_enter(item_ids: Sequence[int], *, step: RoutingStep, from_step: int, reason: str, now: datetime,
               actor: SystemActor = ROUTER) -> int:
    """Move the items still waiting at `from_step` of the step's queue into `step` (a
    widening step: they stay, at its position; an overflow: to its queue's step 1), with an
    event each saying why (`reason`). Returns how many entered. The seam for any condition:
    the SLA threshold actions enter steps through here too."""
    locked = list(
        WorkItem.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(pk__in=list(item_ids), queue_id=step.queue_id, status=ItemStatus.QUEUED, routing_step=from_step)
        .order_by("pk")
    )
    if not locked:
        return 0
    at = moved_at(now)
    from_queue = step.queue
    overflow = step.action == StepAction.OVERFLOW
    for item in locked:
        item.step_entered_at, item.updated_at = at, at
        if overflow:
            target = step.overflow_queue
            item.queue, item.routing_step = target, FIRST_STEP
            item.start_by = sla.start_by_for(due_at=item.due_at, handle_time=target.standard_handle_time)
        else:
            item.queue, item.routing_step = from_queue, step.position
    WorkItem.objects.bulk_update(locked, ["queue", "routing_step", "step_entered_at", "start_by", "updated_at"])
    WorkItemEvent.objects.bulk_create([
        events.step_entered(item, at=at, actor=actor, from_step=from_step, step=step, reason=reason,
                            from_queue=from_queue if overflow else None)
        for item in locked
    ])
    return len(locked)
