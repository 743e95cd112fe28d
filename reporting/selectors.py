"""Reads for reports. The wallboard reads live open work (a handful of grouped queries,
whatever the size of the queues); history reports come from rollups (to come)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Case, Count, F, IntegerField, Min, Q, Value, When
from django.utils import timezone

from allocation.models import OPEN_STATUSES, AgentProfile, ItemStatus, Presence, Queue, WorkItem
from allocation.selectors import SEE_ALL_ITEMS_PERMISSION
from wfo.roles import user_is_admin

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
    from quality.models import DONE_EVALUATION_STATUSES, Evaluation

    items = list(
        WorkItem.objects.filter(customer_ref=customer_ref.strip())
        .select_related("queue", "assignee", "completed_by", "sla_clock")
        .prefetch_related(
            Prefetch("events", queryset=WorkItemEvent.objects.select_related("actor").order_by("at", "id")),
            Prefetch("evaluations", to_attr="evaluations_done", queryset=(
                Evaluation.objects.filter(status__in=DONE_EVALUATION_STATUSES)
                .select_related("version__form", "evaluator").order_by("submitted_at")
            )),
        )
        .order_by("received_at", "id")
    )
    return with_clock_readings(items, now=now or timezone.now())


@dataclass(frozen=True)
class Scorecard:
    """One agent's (or a team's average) figures over a window."""

    completed: int
    met_sla: int
    handle_minutes_avg: float | None  # started → closed, over completed items started in the window
    standard_minutes: float  # Σ the queues' standard handle time over completed items
    available_minutes: float  # time spent available, from the presence history
    qa_average: float | None  # submitted evaluations with a score, of work closed in the window
    qa_count: int

    @property
    def sla_attainment(self) -> float | None:
        return None if not self.completed else self.met_sla / self.completed

    @property
    def productivity(self) -> float | None:
        """Standard minutes earned per minute available."""
        return None if not self.available_minutes else self.standard_minutes / self.available_minutes


def _available_minutes(agent_id: int, since: datetime, until: datetime) -> float:
    from allocation.models import PresenceChange

    changes = list(PresenceChange.objects.filter(agent_id=agent_id, at__lt=until).order_by("at", "id")
                   .values_list("at", "presence"))
    total, current, start = 0.0, None, since
    for at, presence in changes:
        if at > since and current == Presence.AVAILABLE:
            total += (at - max(start, since)).total_seconds()
        current, start = presence, max(at, since)
    if current == Presence.AVAILABLE:
        total += (until - start).total_seconds()
    return total / 60


def scorecard(*, agent_id: int, since: datetime, until: datetime) -> Scorecard:
    from django.db.models import Avg, DurationField, ExpressionWrapper, Sum

    from quality.models import DONE_EVALUATION_STATUSES, Evaluation

    done = WorkItem.objects.filter(completed_by_id=agent_id, status=ItemStatus.COMPLETED,
                                   closed_at__gte=since, closed_at__lt=until)
    figures = done.aggregate(
        completed=Count("pk"), met=Count("pk", filter=Q(closed_at__lte=F("due_at"))),
        handle=Avg(ExpressionWrapper(F("closed_at") - F("started_at"), output_field=DurationField()),
                   filter=Q(started_at__isnull=False)),
        standard=Sum("queue__standard_handle_time"),
    )
    qa = Evaluation.objects.filter(item__in=done, status__in=DONE_EVALUATION_STATUSES, score__isnull=False).aggregate(
        average=Avg("score"), count=Count("pk"))
    return Scorecard(
        completed=figures["completed"], met_sla=figures["met"],
        handle_minutes_avg=figures["handle"].total_seconds() / 60 if figures["handle"] else None,
        standard_minutes=figures["standard"].total_seconds() / 60 if figures["standard"] else 0.0,
        available_minutes=_available_minutes(agent_id, since, until),
        qa_average=float(qa["average"]) if qa["average"] is not None else None, qa_count=qa["count"],
    )


def team_average(scorecards: list[Scorecard]) -> dict[str, float | None]:
    """The team's average of each rate, over members that have a value."""
    def mean(values):
        present = [v for v in values if v is not None]
        return sum(present) / len(present) if present else None

    return {
        "completed": mean([s.completed for s in scorecards]),
        "sla_attainment": mean([s.sla_attainment for s in scorecards]),
        "handle_minutes_avg": mean([s.handle_minutes_avg for s in scorecards]),
        "productivity": mean([s.productivity for s in scorecards]),
        "qa_average": mean([s.qa_average for s in scorecards]),
    }


def agents_visible_to(user):
    """Whose scorecards a user may open: admins all, supervisors their teams' agents, an
    agent itself."""
    agents = AgentProfile.objects.select_related("user", "team").order_by("user__username")
    if user_is_admin(user):
        return agents
    if user.has_perm(SEE_ALL_ITEMS_PERMISSION):
        return agents.filter(team__supervisors=user)
    return agents.filter(pk=user.pk)


@dataclass(frozen=True)
class CapacityRow:
    queue: Queue
    backlog: int
    forecast_arrivals: float  # over the planned days
    handle_hours: float  # average handle time, hours per item
    fte_needed: float
    skilled_agents: int  # agents the queue's team and skill rules admit (whatever their presence)

    @property
    def shortfall(self) -> float:
        return max(0.0, self.fte_needed - self.skilled_agents)


def _planned_days(start: date, days: int) -> list[date]:
    """The next `days` weekdays (Monday–Friday) from `start` on."""
    planned, day = [], start
    while len(planned) < days:
        if day.weekday() < 5:
            planned.append(day)
        day += timedelta(days=1)
    return planned


def capacity_plan(
    *, days: int = 5, history_weeks: int = 4, productive_hours: float = 7.5, shrinkage: float = 0.3,
    today: date | None = None,
) -> list[CapacityRow]:
    """FTE needed per queue for the next `days` working days: (backlog + forecast arrivals)
    × average handle time ÷ (productive hours per FTE × days), grossed up for shrinkage.
    The forecast is, per weekday, the average arrivals on that weekday over the last
    `history_weeks` weeks; the handle time is the average over the same weeks, else the
    queue's standard time."""
    from django.db.models import Avg, DurationField, ExpressionWrapper
    from django.db.models.functions import ExtractIsoWeekDay

    from allocation.selectors import agents_skilled_for_queue

    today = today or timezone.localdate()
    since = timezone.make_aware(datetime.combine(today - timedelta(weeks=history_weeks), time.min))
    until = timezone.make_aware(datetime.combine(today, time.min))
    queues = list(Queue.objects.filter(is_active=True).order_by("name"))
    backlog = dict(WorkItem.objects.filter(status__in=OPEN_STATUSES).values("queue_id").annotate(n=Count("*"))
                   .values_list("queue_id", "n").order_by())
    arrivals: dict[tuple[int, int], int] = defaultdict(int)
    per_day = (
        WorkItem.objects.filter(received_at__gte=since, received_at__lt=until)
        .annotate(weekday=ExtractIsoWeekDay("received_at"))
        .values("queue_id", "weekday").annotate(n=Count("*")).values_list("queue_id", "weekday", "n").order_by()
    )
    for queue_id, weekday, n in per_day:
        arrivals[(queue_id, weekday)] += n
    handle = dict(
        WorkItem.objects.filter(status=ItemStatus.COMPLETED, closed_at__gte=since, closed_at__lt=until,
                                started_at__isnull=False)
        .values("queue_id").annotate(avg=Avg(ExpressionWrapper(F("closed_at") - F("started_at"),
                                                               output_field=DurationField())))
        .values_list("queue_id", "avg").order_by()
    )
    planned = _planned_days(today, days)
    rows = []
    for queue in queues:
        forecast = sum(arrivals[(queue.pk, day.isoweekday())] / history_weeks for day in planned)
        hours = (handle.get(queue.pk) or queue.standard_handle_time).total_seconds() / 3600
        workload = (backlog.get(queue.pk, 0) + forecast) * hours
        fte = workload / (productive_hours * len(planned)) / (1 - shrinkage) if planned else 0.0
        skilled = agents_skilled_for_queue(queue).count()
        rows.append(CapacityRow(queue=queue, backlog=backlog.get(queue.pk, 0), forecast_arrivals=forecast,
                                handle_hours=hours, fte_needed=fte, skilled_agents=skilled))
    return rows
