"""Reads for reports. The wallboard reads live open work (a handful of grouped queries,
whatever the size of the queues); history reports come from rollups (to come)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.db.models import Case, Count, F, IntegerField, Min, Q, Value, When
from django.utils import timezone

from allocation.models import OPEN_STATUSES, AgentProfile, ItemStatus, Presence, Queue, WorkItem

# Time left to SLA, in the order the wallboard shows it.
AGING_BUCKETS = [
    ("breached", "Breached", None),
    ("lt_1h", "< 1 h", timedelta(hours=1)),
    ("1_4h", "1–4 h", timedelta(hours=4)),
    ("4_24h", "4–24 h", timedelta(hours=24)),
    ("1_3d", "1–3 days", timedelta(days=3)),
    ("gt_3d", "> 3 days", None),
]


@dataclass
class QueueRow:
    queue: Queue
    by_status: dict[str, int] = field(default_factory=dict)
    oldest_queued: datetime | None = None
    at_risk: int = 0  # open, past a warning threshold, not yet due
    breached: int = 0  # open and past due
    arrivals_today: int = 0
    completed_today: int = 0

    @property
    def open(self) -> int:
        return sum(self.by_status.values())


@dataclass
class Wallboard:
    at: datetime
    queues: list[QueueRow]
    presence: dict[str, int]
    aging: list[tuple[str, str, int]]  # (key, label, open items)

    @property
    def totals(self) -> QueueRow:
        total = QueueRow(queue=None)
        for row in self.queues:
            for status, n in row.by_status.items():
                total.by_status[status] = total.by_status.get(status, 0) + n
            total.at_risk += row.at_risk
            total.breached += row.breached
            total.arrivals_today += row.arrivals_today
            total.completed_today += row.completed_today
            if row.oldest_queued and (total.oldest_queued is None or row.oldest_queued < total.oldest_queued):
                total.oldest_queued = row.oldest_queued
        return total


def _aging_bucket(now: datetime) -> Case:
    whens = [When(due_at__lte=now, then=Value(0))]
    for index, (_, _, upper) in enumerate(AGING_BUCKETS[1:-1], start=1):
        whens.append(When(due_at__lte=now + upper, then=Value(index)))
    return Case(*whens, default=Value(len(AGING_BUCKETS) - 1), output_field=IntegerField())


def wallboard(*, now: datetime | None = None) -> Wallboard:
    """Per active queue: open items by status, the oldest waiting item, items at risk and
    breached, today's arrivals and completions; agents by presence; open items by time
    left to SLA. Six grouped queries."""
    now = now or timezone.now()
    today = timezone.make_aware(datetime.combine(timezone.localdate(now), time.min))
    rows = {q.pk: QueueRow(queue=q) for q in Queue.objects.filter(is_active=True).order_by("name")}
    open_items = WorkItem.objects.filter(status__in=OPEN_STATUSES, queue_id__in=rows)
    for queue_id, status, n in open_items.values_list("queue_id", "status").annotate(n=Count("*")).order_by():
        rows[queue_id].by_status[status] = n
    oldest = (
        WorkItem.objects.filter(status=ItemStatus.QUEUED, queue_id__in=rows).values("queue_id")
        .annotate(oldest=Min("received_at")).values_list("queue_id", "oldest")
    )
    for queue_id, received in oldest:
        rows[queue_id].oldest_queued = received
    risk = (
        open_items.values("queue_id").annotate(
            breached=Count("pk", filter=Q(due_at__lte=now)),
            at_risk=Count("pk", filter=Q(due_at__gt=now, sla_clock__next_threshold__gt=F("sla_clock__thresholds__0"))),
        ).values_list("queue_id", "breached", "at_risk").order_by()
    )
    for queue_id, breached, at_risk in risk:
        rows[queue_id].breached, rows[queue_id].at_risk = breached, at_risk
    today_counts = (
        WorkItem.objects.filter(queue_id__in=rows).filter(Q(received_at__gte=today) | Q(closed_at__gte=today))
        .values("queue_id").annotate(
            arrivals=Count("pk", filter=Q(received_at__gte=today)),
            completed=Count("pk", filter=Q(status=ItemStatus.COMPLETED, closed_at__gte=today)),
        ).values_list("queue_id", "arrivals", "completed").order_by()
    )
    for queue_id, arrivals, completed in today_counts:
        rows[queue_id].arrivals_today, rows[queue_id].completed_today = arrivals, completed
    presence = {value: 0 for value in Presence.values}
    presence.update(dict(AgentProfile.objects.values_list("presence").annotate(n=Count("*")).order_by()))
    buckets = defaultdict(int)
    for bucket, n in open_items.annotate(bucket=_aging_bucket(now)).values_list("bucket").annotate(n=Count("*")) \
            .order_by():
        buckets[bucket] = n
    aging = [(key, label, buckets[index]) for index, (key, label, _) in enumerate(AGING_BUCKETS)]
    return Wallboard(at=now, queues=list(rows.values()), presence=presence, aging=aging)



def customer_journey_report(*, customer_ref: str, now: datetime | None = None) -> list[WorkItem]:
    """Every item of a customer across queues, oldest first, each with its timeline
    (`events`), its SLA clock reading (`sla`) and its submitted evaluations
    (`evaluations_done`) — a fixed number of queries however many items."""
    from django.db.models import Prefetch

    from allocation.models import WorkItemEvent
    from allocation.selectors import with_clock_readings
    from quality.models import Evaluation
    from quality.selectors import DONE

    items = list(
        WorkItem.objects.filter(customer_ref=customer_ref.strip())
        .select_related("queue", "assignee", "completed_by", "sla_clock")
        .prefetch_related(
            Prefetch("events", queryset=WorkItemEvent.objects.select_related("actor").order_by("at", "id")),
            Prefetch("evaluations", to_attr="evaluations_done",
                     queryset=Evaluation.objects.filter(status__in=DONE).select_related("version__form", "evaluator")
                     .order_by("submitted_at")),
        )
        .order_by("received_at", "id")
    )
    return with_clock_readings(items, now=now or timezone.now())
