"""Write item histories straight into the tables, at chosen times, as the services would
have left them: an item row and its events in time order (what report rollups read)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from allocation.models import EventKind, ItemStatus, Presence, PresenceChange, WorkItem, WorkItemEvent
from quality.models import Evaluation, EvaluationSource, EvaluationStatus
from tests import factories


@dataclass
class Life:
    """One item's life: received, then optionally worked (start/pend spans), transferred,
    completed or cancelled. Times are absolute datetimes."""

    queue: object
    received: datetime
    due: datetime
    agent: object | None = None  # the AgentProfile that works it
    spans: list[tuple[datetime, datetime]] = field(default_factory=list)  # in progress [start, end)
    completed: datetime | None = None
    cancelled: datetime | None = None
    transfer_to: object | None = None  # a queue
    transferred: datetime | None = None
    source: str = "tests"


def item_write(life: Life, *, events: bool = True) -> tuple[WorkItem, list[WorkItemEvent]]:
    """The item row and (unless events=False) its events; returns both, events unsaved
    when events=False so a test can write them later ("late")."""
    final_queue = life.transfer_to or life.queue
    if life.completed:
        status = ItemStatus.COMPLETED
    elif life.cancelled:
        status = ItemStatus.CANCELLED
    else:
        status = ItemStatus.QUEUED
    item = factories.WorkItemFactory(
        queue=final_queue, source=life.source, status=status, received_at=life.received, due_at=life.due,
        start_by=life.due - final_queue.standard_handle_time,
        completed_by=life.agent.user if life.completed else None,
        closed_at=life.completed or life.cancelled, started_at=life.spans[0][0] if life.spans else None,
        outcome="done" if life.completed else "",
    )
    rows = [WorkItemEvent(item=item, at=life.received, kind=EventKind.CREATED, system_actor="tests",
                          to_status=ItemStatus.QUEUED, data={"queue_id": life.queue.pk})]
    if life.transferred:
        rows.append(WorkItemEvent(
            item=item, at=life.transferred, kind=EventKind.TRANSFERRED, system_actor="tests",
            from_status=ItemStatus.QUEUED, to_status=ItemStatus.QUEUED,
            data={"from_queue_id": life.queue.pk, "to_queue_id": life.transfer_to.pk},
        ))
    if life.spans:
        user = life.agent.user
        rows.append(WorkItemEvent(item=item, at=life.spans[0][0] - timedelta(minutes=1), kind=EventKind.ASSIGNED,
                                  actor=user, from_status=ItemStatus.QUEUED, to_status=ItemStatus.ASSIGNED))
        for number, (start, end) in enumerate(life.spans):
            rows.append(WorkItemEvent(item=item, at=start, kind=EventKind.STARTED, actor=user,
                                      from_status=ItemStatus.ASSIGNED, to_status=ItemStatus.IN_PROGRESS))
            if number < len(life.spans) - 1:
                rows.append(WorkItemEvent(item=item, at=end, kind=EventKind.PENDED, actor=user,
                                          from_status=ItemStatus.IN_PROGRESS, to_status=ItemStatus.PENDED))
                rows.append(WorkItemEvent(item=item, at=life.spans[number + 1][0] - timedelta(seconds=30),
                                          kind=EventKind.FOLLOW_UP_DUE, system_actor="tests",
                                          from_status=ItemStatus.PENDED, to_status=ItemStatus.ASSIGNED))
    if life.completed:
        rows.append(WorkItemEvent(item=item, at=life.completed, kind=EventKind.COMPLETED, actor=life.agent.user,
                                  from_status=ItemStatus.IN_PROGRESS, to_status=ItemStatus.COMPLETED))
    if life.cancelled:
        rows.append(WorkItemEvent(item=item, at=life.cancelled, kind=EventKind.CANCELLED, system_actor="tests",
                                  from_status=ItemStatus.QUEUED, to_status=ItemStatus.CANCELLED))
    if events:
        WorkItemEvent.objects.bulk_create(rows)
    return item, rows


def evaluation_write(item: WorkItem, *, version, score: str, at: datetime, status=EvaluationStatus.SUBMITTED,
                     calibration=None, replaces=None) -> Evaluation:
    return Evaluation.objects.create(
        item=item, agent=item.completed_by, evaluator=factories.UserFactory(), version=version,
        source=EvaluationSource.CALIBRATION if calibration else EvaluationSource.MANUAL, status=status,
        score=Decimal(score), passed=Decimal(score) >= 80,
        submitted_at=at, calibration=calibration, replaces=replaces,
    )


def presence_write(agent, *changes: tuple[datetime, str]) -> None:
    PresenceChange.objects.bulk_create(
        PresenceChange(agent=agent, at=at, presence=presence, system_actor="tests") for at, presence in changes
    )


AVAILABLE, AWAY, OFFLINE = Presence.AVAILABLE, Presence.AWAY, Presence.OFFLINE
