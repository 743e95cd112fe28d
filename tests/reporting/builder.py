"""Write item histories straight into the tables, at chosen times, as the services would
have left them: an item row and its events in time order (what report rollups read)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from allocation import events as item_events
from allocation.models import ItemStatus, Presence, PresenceChange, WorkItem, WorkItemEvent
from core.actors import SystemActor
from quality.models import Evaluation, EvaluationSource, EvaluationStatus
from reporting import rollups
from reporting.models import AgentDay, PresenceDay, QueueDay, QueueHour
from tests import factories

MINUTE = timedelta(minutes=1)


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
    # Assigned when its last span began: a minute before the first, half a minute before a
    # span after a pend (the follow-up gave it back); as the events below say.
    assigned_at = None
    if life.spans:
        assigned_at = life.spans[-1][0] - (timedelta(minutes=1) if len(life.spans) == 1 else timedelta(seconds=30))
    item = factories.WorkItemFactory(
        queue=final_queue, source=life.source, status=status, received_at=life.received, due_at=life.due,
        assigned_at=assigned_at,
        start_by=life.due - final_queue.standard_handle_time,
        completed_by=life.agent.user if life.completed else None,
        closed_at=life.completed or life.cancelled, started_at=life.spans[0][0] if life.spans else None,
        outcome="done" if life.completed else "",
    )
    integration = SystemActor("tests")
    agent, user = (life.agent.pk, life.agent.user) if life.agent else (None, None)
    rows = [item_events.created(item, at=life.received, actor=integration, queue=life.queue)]
    if life.transferred:
        rows.append(item_events.transferred(item, at=life.transferred, actor=integration,
                                            from_status=ItemStatus.QUEUED, from_queue=life.queue, from_agent=None))
    if life.spans:
        rows.append(item_events.assigned(item, at=life.spans[0][0] - timedelta(minutes=1), actor=user,
                                         from_status=ItemStatus.QUEUED, rule=item_events.RULE_NEXT_BEST,
                                         from_agent=None, to_agent=agent, eligible_queues=1))
        for number, (start, end) in enumerate(life.spans):
            rows.append(item_events.started(item, at=start, actor=user, from_status=ItemStatus.ASSIGNED))
            if number < len(life.spans) - 1:
                follow_up = life.spans[number + 1][0] - timedelta(seconds=30)
                rows.append(item_events.pended(item, at=end, actor=user, until=follow_up, reason="Waiting"))
                rows.append(item_events.follow_up_due(item, at=follow_up, actor=integration,
                                                      from_status=ItemStatus.PENDED, rule=item_events.RULE_FOLLOW_UP,
                                                      from_agent=agent, to_agent=agent))
    if life.completed:
        rows.append(item_events.completed(item, at=life.completed, actor=user, outcome="done", from_agent=agent))
    if life.cancelled:
        rows.append(item_events.cancelled(item, at=life.cancelled, actor=integration, from_status=ItemStatus.QUEUED,
                                          from_agent=None))
    if events:
        WorkItemEvent.objects.bulk_create(rows)
    return item, rows


def evaluation_write(item: WorkItem, *, version, score: str, at: datetime, status=EvaluationStatus.SUBMITTED,
                     calibration=None, replaces=None) -> Evaluation:
    return factories.EvaluationFactory(
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


def snapshot() -> dict:
    """Every rollup table's rows, comparable: an incremental run against a rebuild."""
    tables = {}
    for model in (QueueDay, AgentDay, QueueHour, PresenceDay):
        fields = [f.attname for f in model._meta.concrete_fields if f.name != "id"]
        tables[model.__name__] = sorted(tuple(str(v) for v in row) for row in model.objects.values_list(*fields))
    return tables


def worked_days(queue, agent, days: int, *, per_day: int = 2):
    """`per_day` items a day for the last `days` days, each worked 10 minutes; the agent
    available 2 h a day."""
    today = timezone.localdate()
    for back in range(days):
        day = today - timedelta(days=back + 1)
        start = rollups.day_start(day) + timedelta(hours=9)
        for n in range(per_day):
            begin = start + n * 15 * MINUTE
            item_write(Life(queue, begin - MINUTE, begin + (60 if n else 5) * MINUTE, agent,
                            [(begin, begin + 10 * MINUTE)], completed=begin + 10 * MINUTE))
        presence_write(agent, (start, AVAILABLE), (start + 120 * MINUTE, OFFLINE))
    rollups.rollups_update()
