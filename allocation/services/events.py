"""Writing the audit trail: one event row per change of an item.

What an event's `data` says about who holds the item, the same for every kind of event
that can change it (assigned — get-next and push —, transferred, rebalanced,
reservation_expired, follow_up_due, released, rejected, completed, cancelled):
- `from_agent`: the user id of the item's holder before the event, null when nobody held it;
- `to_agent`: the user id of the agent holding it after the event, present only when the
  event leaves it with an agent (a pended item returned to its holder names that holder
  in both).
Agent profiles share their primary key with their user, so these are profile ids too.
Events written before this convention name the holder before as `released_by_agent`
(released), `rejected_by_agent` (rejected) or `held_by` (cancelled, only when held);
completed events named no holder and get-next's assigned events no agent (the actor asked
for itself). Readers accept both (allocation/audit.py, allocation/selectors.py).

When: an event is dated by the clock read once the item's row lock is held (the periodic
jobs through moves.moved_at; get-next and the start fast path inside their one statement,
after its locks, and never before the item's last write), so an item's events are in the
same order by time as by id; the audit checks it.
"""

from __future__ import annotations

from datetime import datetime

from allocation.actors import Actor, actor_fields
from allocation.models import WorkItem, WorkItemEvent


def event_record(
    *,
    item: WorkItem,
    actor: Actor,
    kind: str,
    from_status: str,
    at: datetime,
    reason: str = "",
    data: dict | None = None,
) -> WorkItemEvent:
    return WorkItemEvent.objects.create(
        item=item,
        at=at,
        kind=kind,
        from_status=from_status,
        to_status=item.status,
        reason=reason,
        data=data or {},
        **actor_fields(actor),
    )
