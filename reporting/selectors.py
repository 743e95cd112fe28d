"""Reads for reports. The wallboard reads live open work (a handful of grouped queries,
whatever the size of the queues); the scorecard, team figures and capacity planning read
the rollups (reporting/rollups.py writes them; reporting/history.py turns them into the
history reports)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count, Exists, F, Func, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from allocation import transitions
from allocation.models import OPEN_STATUSES, AgentProfile, ItemStatus, Presence, PresenceChange, Queue, WorkItem
from allocation.selectors import AGING_BANDS, AT_RISK, sla_standing_q
from core import roles
from reporting.models import QueueThresholds, WallboardChoice
from reporting.rollups import day_start, reports_today


@dataclass
class QueueRow:
    queue: Queue
    by_status: dict[str, int] = field(default_factory=dict)
    levels: dict[str, str] = field(default_factory=dict)  # metric -> "amber", "red" or "" (with_levels)
    oldest_queued: datetime | None = None
    oldest_queued_id: int | None = None  # that item, to open it
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
                total.oldest_queued, total.oldest_queued_id = row.oldest_queued, row.oldest_queued_id
        return total


def wallboard(*, now: datetime | None = None, queue_ids: list[int] | None = None,
              team_ids: list[int] | None = None) -> Wallboard:
    """Per queue (active, or holding open items): open items by status, the oldest waiting item, items at risk and
    breached, today's arrivals and completions; agents by presence; open items by time
    left to SLA. Five grouped queries. `queue_ids` narrows the queues (and so the totals
    and the bands), `team_ids` the agents counted by presence."""
    now = now or timezone.now()
    # A queue switched off while it still holds open items stays on the board: its work is
    # still open, and the totals count every open item.
    holds_open = WorkItem.objects.filter(queue_id=OuterRef("pk"), status__in=OPEN_STATUSES)
    queues = Queue.objects.filter(Q(is_active=True) | Exists(holds_open)).order_by("name")
    if queue_ids is not None:
        queues = queues.filter(pk__in=queue_ids)
    rows = {q.pk: QueueRow(queue=q) for q in queues}
    open_items = WorkItem.objects.filter(status__in=OPEN_STATUSES, queue_id__in=rows)
    for queue_id, status, n in open_items.values_list("queue_id", "status").annotate(n=Count("*")).order_by():
        rows[queue_id].by_status[status] = n
    # The oldest waiting item of each queue (the first by received time, then id).
    oldest = (
        WorkItem.objects.filter(status=ItemStatus.QUEUED, queue_id__in=rows)
        .order_by("queue_id", "received_at", "id").distinct("queue_id").values_list("queue_id", "received_at", "pk")
    )
    for queue_id, received, item_id in oldest:
        rows[queue_id].oldest_queued, rows[queue_id].oldest_queued_id = received, item_id
    # At risk, breached and the aging bands count the one definition the item list filters by.
    standings = [AT_RISK, *(key for key, _, _ in AGING_BANDS)]
    counts = {f"n{index}": Count("pk", filter=sla_standing_q(key, now=now)) for index, key in enumerate(standings)}
    per_queue = open_items.values("queue_id").annotate(**counts).values_list("queue_id", *counts).order_by()
    aging_counts = defaultdict(int)
    for queue_id, at_risk, *bands in per_queue:
        rows[queue_id].at_risk, rows[queue_id].breached = at_risk, bands[0]
        for (key, _, _), n in zip(AGING_BANDS, bands, strict=True):
            aging_counts[key] += n
    for queue_id, (arrivals, completed) in today_flows(now=now, queue_ids=list(rows)).items():
        rows[queue_id].arrivals_today, rows[queue_id].completed_today = arrivals, completed
    presence = {value: 0 for value in Presence.values}
    agents = AgentProfile.objects.all() if team_ids is None else AgentProfile.objects.filter(team_id__in=team_ids)
    presence.update(dict(agents.values_list("presence").annotate(n=Count("*")).order_by()))
    aging = [(key, label, aging_counts[key]) for key, label, _ in AGING_BANDS]
    return Wallboard(at=now, queues=list(rows.values()), presence=presence, aging=aging)



@dataclass(frozen=True)
class WallboardScope:
    """What a user's wallboard shows, as it last chose (reporting.models.WallboardChoice)."""

    teams: list = field(default_factory=list)
    queues: list = field(default_factory=list)
    queue_ids: list[int] | None = None  # None: every queue
    team_ids: list[int] | None = None  # None: every agent
    theme: str = "auto"

    @property
    def label(self) -> str:
        if self.queues:
            return ", ".join(queue.name for queue in self.queues)
        if self.teams:
            return "The queues of " + ", ".join(team.name for team in self.teams)
        return "Every queue"


def wallboard_scope(user) -> WallboardScope:
    """The queues (the chosen ones, else the chosen teams', else all) and the agents (the
    chosen teams', else all) of the user's wallboard."""
    choice = WallboardChoice.objects.filter(user_id=user.pk).prefetch_related("teams", "queues").first()
    if choice is None:
        return WallboardScope()
    teams = sorted(choice.teams.all(), key=lambda team: team.name)
    queues = sorted(choice.queues.all(), key=lambda queue: queue.name)
    team_ids = [team.pk for team in teams] or None
    if queues:
        queue_ids = [queue.pk for queue in queues]
    elif teams:
        queue_ids = list(Queue.objects.filter(teams__in=team_ids).values_list("pk", flat=True).distinct())
    else:
        queue_ids = None
    return WallboardScope(teams=teams, queues=queues, queue_ids=queue_ids, team_ids=team_ids, theme=choice.theme)


def thresholds_queues(user) -> QuerySet[Queue]:
    """The queues whose wallboard thresholds a user may set: a supervisor those its teams
    serve, an admin every queue."""
    reach = transitions.queues_in_reach(user)
    return (Queue.objects.all() if reach is None else reach).distinct().order_by("name")


def thresholds_of(queues) -> dict[int, QueueThresholds]:
    return {found.queue_id: found for found in QueueThresholds.objects.filter(queue__in=queues)}


def with_levels(board: Wallboard) -> Wallboard:
    """Each queue row's cells coloured by its queue's thresholds (one query)."""
    queue_ids = [row.queue.pk for row in board.queues]
    thresholds = {found.queue_id: found for found in QueueThresholds.objects.filter(queue_id__in=queue_ids)}
    for row in board.queues:
        found = thresholds.get(row.queue.pk)
        if found is None:
            continue
        oldest = int((board.at - row.oldest_queued).total_seconds() // 60) if row.oldest_queued else None
        values = {"waiting": row.by_status.get("queued", 0), "oldest_minutes": oldest, "at_risk": row.at_risk,
                  "breached": row.breached}
        row.levels = {metric: found.level(metric, value) for metric, value in values.items()}
    return board


def today_flows(*, now: datetime, queue_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Arrivals and completions per queue today (the portal's day): the rollup's hours so
    far, plus the events it has not read yet (the last minute or so). Two small queries:
    the items table's history is never scanned."""
    from django.db import connection

    from allocation import events
    from allocation.models import EventKind, WorkItemEvent
    from reporting import rollups
    from reporting.models import QueueHour

    today = rollups.local_day(now)
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for queue_id, arrivals, completed in (
        QueueHour.objects.filter(day=today, queue_id__in=queue_ids).values("queue_id")
        .annotate(a=Sum("arrivals"), c=Sum("completed")).values_list("queue_id", "a", "c").order_by()
    ):
        counts[queue_id] = [arrivals, completed]
    read_up_to, since = rollups.unread_today(now)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT CASE WHEN e.kind = %(created)s THEN (e.data->>'{events.QUEUE_ID}')::bigint
                        ELSE i.queue_id END AS queue_id,
                   count(*) FILTER (WHERE e.kind = %(created)s), count(*) FILTER (WHERE e.kind = %(completed)s)
              FROM {WorkItemEvent._meta.db_table} e JOIN {WorkItem._meta.db_table} i ON i.id = e.item_id
             WHERE e.id > %(after)s AND e.at >= %(since)s AND e.kind IN (%(created)s, %(completed)s)
             GROUP BY 1
            """,
            {"after": read_up_to, "since": since, "created": EventKind.CREATED,
             "completed": EventKind.COMPLETED},
        )
        for queue_id, arrivals, completed in cursor.fetchall():
            counts[queue_id][0] += arrivals
            counts[queue_id][1] += completed
    return {queue_id: (a, c) for queue_id, (a, c) in counts.items() if queue_id in set(queue_ids)}


def customer_journey_report(*, customer_ref: str, now: datetime | None = None) -> list[WorkItem]:
    """Every item of a customer across queues, oldest first, each with its timeline
    (`events`), its SLA clock reading (`sla`) and its standing evaluations
    (`evaluations_done`: the QA results that count, as reports count them) — a fixed number
    of queries however many items."""
    from django.db.models import Prefetch

    from allocation.models import WorkItemEvent
    from allocation.selectors import customer_is, with_clock_readings
    from quality.models import Evaluation

    items = list(
        WorkItem.objects.filter(customer_is(customer_ref))
        .select_related("queue", "assignee", "completed_by", "sla_clock")
        .prefetch_related(
            Prefetch("events", queryset=WorkItemEvent.objects.select_related("actor").order_by("at", "id")),
            Prefetch("evaluations", to_attr="evaluations_done", queryset=(
                Evaluation.objects.standing()
                .select_related("version__form", "evaluator").order_by("submitted_at")
            )),
        )
        .order_by("received_at", "id")
    )
    return with_clock_readings(items, now=now or timezone.now())


def team_average(members: list) -> dict[str, float | None]:
    """The team's average of each figure (reporting.history.Period per member), over the
    members that have a value."""
    def mean(values):
        present = [v for v in values if v is not None]
        return sum(present) / len(present) if present else None

    return {name: mean([getattr(member, name) for member in members]) for name in (
        "completed", "sla_attainment", "handle_minutes_avg", "productivity", "utilization", "first_pass_yield",
        "qa_average")}


def agents_visible_to(user):
    """Whose scorecards a user may open: admins all, supervisors their teams' agents, an
    agent itself."""
    agents = AgentProfile.objects.select_related("user", "team", "presence_reason").order_by("user__username")
    if roles.is_admin(user):
        return agents
    if roles.is_supervisor(user):
        return agents.filter(Q(team__supervisors=user) | Q(pk=user.pk)).distinct()
    return agents.filter(pk=user.pk)


def presence_changes_on(agent_id: int, day: date) -> QuerySet[PresenceChange]:
    """An agent's presence changes on a local day, with the reasons given, oldest first."""
    return (PresenceChange.objects.filter(agent_id=agent_id, at__gte=day_start(day),
                                          at__lt=day_start(day + timedelta(days=1)))
            .select_related("reason", "actor").order_by("at", "id"))


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
    from allocation.eligibility import agents_skilled_for_queue
    from reporting.models import QueueDay

    today = today or reports_today()
    since, until = today - timedelta(weeks=history_weeks), today - timedelta(days=1)
    skilled = agents_skilled_for_queue().order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n")
    queues = list(Queue.objects.filter(is_active=True).annotate(skilled=Subquery(skilled)).order_by("name"))
    backlog = dict(WorkItem.objects.filter(status__in=OPEN_STATUSES).values("queue_id").annotate(n=Count("*"))
                   .values_list("queue_id", "n").order_by())
    arrivals: dict[tuple[int, int], int] = defaultdict(int)
    handled: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # queue → [items, seconds]
    for queue_id, day, n, items, seconds in QueueDay.objects.filter(day__gte=since, day__lte=until).values_list(
        "queue_id", "day", "arrivals", "handled", "handle_seconds"
    ):
        arrivals[(queue_id, day.isoweekday())] += n
        handled[queue_id][0] += items
        handled[queue_id][1] += seconds
    planned = _planned_days(today, days)
    rows = []
    for queue in queues:
        forecast = sum(arrivals[(queue.pk, day.isoweekday())] / history_weeks for day in planned)
        items, seconds = handled[queue.pk]
        hours = (seconds / items if items else queue.standard_handle_time.total_seconds()) / 3600
        workload = (backlog.get(queue.pk, 0) + forecast) * hours
        fte = workload / (productive_hours * len(planned)) / (1 - shrinkage) if planned else 0.0
        rows.append(CapacityRow(queue=queue, backlog=backlog.get(queue.pk, 0), forecast_arrivals=forecast,
                                handle_hours=hours, fte_needed=fte, skilled_agents=queue.skilled))
    return rows
