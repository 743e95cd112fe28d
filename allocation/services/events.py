"""Writing the audit trail: one event row per change of an item."""

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
