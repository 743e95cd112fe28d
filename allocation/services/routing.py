"""The routing job: items enter the routing steps whose condition holds (allocation/routing.py
states the rule; this is the one place that moves items through steps).

A pass reads its plan once — every step of every routed queue judged at one `now`, on
the state as it found it, so what the admin's preview shows is what it does — then
enters the planned items batch by batch, whatever their steps, each batch one short
transaction: lock the items with SKIP LOCKED, keep those still waiting at the step before
(an agent may have taken one, an overlapping pass moved it), move them in one statement
and write one step_entered event each. Exactly once per (item, step) is that re-check under the row lock; a pass killed
between batches leaves every batch whole, and the next pass plans the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
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
    planned: list[tuple[int, routing.StepDue]] = []
    for due in routing.plan(now=now, limit=limit):
        if due.blocked:
            result.blocked.append(f"{due.step}: {due.blocked}")
            continue
        planned += [(item_id, due) for item_id in due.item_ids]
    for start in range(0, len(planned), batch_size):
        batch = planned[start:start + batch_size]
        entered = _enter(batch, now=now, actor=ROUTER)
        for step_id, count in entered.items():
            result.entered[step_id] = result.entered.get(step_id, 0) + count
        result.skipped += len(batch) - sum(entered.values())
    return result


def step_enter(item_ids: Sequence[int], *, step: RoutingStep, from_step: int, reason: str, now: datetime,
               actor: SystemActor = ROUTER) -> int:
    """Move the items still waiting at `from_step` of the step's queue into `step` (a
    widening step: they stay, at its position; an overflow: to its queue's step 1), with an
    event each saying why (`reason`). Returns how many entered. The seam for any condition:
    the SLA threshold actions enter steps through here too."""
    due = routing.StepDue(step, from_step, list(item_ids), len(item_ids), reason)
    return _enter([(item_id, due) for item_id in item_ids], now=now, actor=actor).get(step.pk, 0)


# Moving the items of a batch, whatever their steps: one statement (an UPDATE from arrays),
# as bulk_update's CASE per field per item cost more than the rest of a pass together.
_MOVE = """
UPDATE allocation_workitem AS w
SET queue_id = m.queue_id, routing_step = m.step, start_by = m.start_by, step_entered_at = %s, updated_at = %s
FROM unnest(%s::bigint[], %s::bigint[], %s::smallint[], %s::timestamptz[]) AS m(id, queue_id, step, start_by)
WHERE w.id = m.id
"""


@transaction.atomic
def _enter(batch: Sequence[tuple[int, routing.StepDue]], *, now: datetime, actor: SystemActor) -> dict[int, int]:
    """Enter each (item id, its step) of `batch` that is still waiting at the step before in
    the step's queue, under its row lock (SKIP LOCKED: one a get-next or another pass holds
    is left to the next pass): three statements and a commit for the batch. Returns step id
    → how many entered."""
    planned = dict(batch)
    locked = WorkItem.objects.select_for_update(skip_locked=True, of=("self",)).filter(
        pk__in=list(planned), status=ItemStatus.QUEUED
    ).order_by("pk")
    moving = [item for item in locked
              if item.queue_id == planned[item.pk].step.queue_id and item.routing_step == planned[item.pk].previous]
    if not moving:
        return {}
    at = moved_at(now)
    entered: dict[int, int] = {}
    for item in moving:
        step = planned[item.pk].step
        if step.action == StepAction.OVERFLOW:
            target = step.overflow_queue
            item.queue, item.routing_step = target, FIRST_STEP
            item.start_by = sla.start_by_for(due_at=item.due_at, handle_time=target.standard_handle_time)
        else:
            item.queue, item.routing_step = step.queue, step.position
        item.step_entered_at, item.updated_at = at, at
        entered[step.pk] = entered.get(step.pk, 0) + 1
    with connection.cursor() as cursor:
        cursor.execute(_MOVE, [at, at, [item.pk for item in moving], [item.queue_id for item in moving],
                               [item.routing_step for item in moving], [item.start_by for item in moving]])
    WorkItemEvent.objects.bulk_create([_event(item, planned[item.pk], at=at, actor=actor) for item in moving])
    return entered


def _event(item: WorkItem, due: routing.StepDue, *, at: datetime, actor: SystemActor) -> WorkItemEvent:
    overflowed = due.step.action == StepAction.OVERFLOW
    return events.step_entered(item, at=at, actor=actor, from_step=due.previous, step=due.step, reason=due.reason,
                               from_queue=due.step.queue if overflowed else None)
