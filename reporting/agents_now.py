"""The supervisor's live view of agents: each agent of the user's teams now — presence and
for how long (with the reason), items held against capacity, the item in progress and for
how long against its queue's standard time, pended items, completed and SLA met today, the
last assignment, idle time, and the work waiting that the agent could take.

A fixed number of queries whatever the number of agents (tests/reporting/test_agents_now.py
pins it): the agents, read as values (hundreds of rows: no model instances), then their
figures (`figures_fill`), a group at a time — their last action (one index probe each,
`event_actor_at`), the items they hold, grouped, their items in progress, today's
completions (the rollup's day so far plus the events it has not read yet, as the
wallboard's today), and the waiting work of the queues that admit each of them (the queues'
waiting counts, and per queue the agents its own rule admits).

A page of the view reads for every agent only the figures its order or its state filter
needs (ORDERS: idle the longest needs what each holds and its last action, nothing else;
by name, none), and the rest for the agents it shows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import Count, OuterRef, QuerySet, Subquery, Sum
from django.utils import timezone

from allocation import labels
from allocation.eligibility import agents_skilled_for_queue
from allocation.models import (
    HELD_STATUSES,
    AgentProfile,
    EventKind,
    ItemStatus,
    Presence,
    Queue,
    Skill,
    Team,
    WorkItem,
    WorkItemEvent,
)
from core import roles
from reporting import rollups
from reporting.models import AgentDay

WORKING, IDLE = "working", "idle"
STATES = [
    (WORKING, "Working (an item in progress)"),
    (IDLE, "Idle (available, nothing in progress)"),
    (Presence.AWAY, "Away"),
    (Presence.OFFLINE, "Offline"),
]
STATE_LABELS = {WORKING: "Working", IDLE: "Idle", Presence.AWAY: "Away", Presence.OFFLINE: "Offline"}

# The figures, in the groups each read fills for many agents at once (figures_fill).
LAST_ACTION, HELD, WORKING_ON, COMPLETIONS, WAITING = "last_action", "held", "working_on", "completions", "waiting"
FIGURES = (LAST_ACTION, HELD, WORKING_ON, COMPLETIONS, WAITING)


@dataclass(frozen=True)
class WorkingOn:
    """An agent's item in progress (read as values: hundreds of rows)."""

    pk: int
    title: str
    started_at: datetime | None
    standard: timedelta  # its queue's standard handle time


@dataclass
class AgentNow:
    """One agent's row: the profile's fields it shows, and the figures read so far (`read`)."""

    pk: int
    username: str
    first_name: str
    last_name: str
    team_name: str  # "" without a team
    capacity: int
    presence: str
    presence_since: datetime
    presence_reason: str  # the reason's label, "" without one
    last_assigned_at: datetime | None
    now: datetime
    last_action_at: datetime | None = None
    offered: int = 0  # assigned to it, not started
    in_progress: int = 0
    pended: int = 0
    working_on: WorkingOn | None = None  # the item in progress the longest
    completed_today: int = 0
    met_today: int = 0
    waiting: int = 0  # waiting in the queues whose own rule admits the agent
    read: set[str] = field(default_factory=set)  # the figure groups read (figures_fill)

    @property
    def filled(self) -> bool:
        return self.read.issuperset(FIGURES)

    @property
    def name(self) -> str:
        # As User.get_full_name, else the username.
        return f"{self.first_name} {self.last_name}".strip() or self.username

    @property
    def presence_label(self) -> str:
        return labels.presence_label(self.presence, self.presence_reason)

    @property
    def held(self) -> int:
        """Against capacity: assigned or in progress (pended items do not count)."""
        return self.offered + self.in_progress

    @property
    def presence_for(self) -> timedelta:
        return max(self.now - self.presence_since, timedelta(0))

    @property
    def working_for(self) -> timedelta | None:
        if self.working_on is None or self.working_on.started_at is None:
            return None
        return max(self.now - self.working_on.started_at, timedelta(0))

    @property
    def over_standard(self) -> bool:
        return self.working_for is not None and self.working_for > self.working_on.standard

    @property
    def state(self) -> str:
        if self.in_progress:
            return WORKING
        if self.presence == Presence.AVAILABLE:
            return IDLE
        return self.presence

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def idle_since(self) -> datetime | None:
        """While available with nothing in progress: its last action, or becoming available
        if later (a person's presence change is an action too)."""
        if self.state != IDLE:
            return None
        return max(moment for moment in (self.last_action_at, self.presence_since) if moment is not None)

    @property
    def idle_for(self) -> timedelta | None:
        since = self.idle_since
        return None if since is None else max(self.now - since, timedelta(0))

    @property
    def met_share(self) -> float | None:
        return self.met_today / self.completed_today if self.completed_today else None


@dataclass(frozen=True)
class AgentFilters:
    team_id: int | None = None
    queue_id: int | None = None
    skill_id: int | None = None
    state: str = ""


# What a filter by state reads (a state is told from the items in progress).
STATE_READS = (HELD,)


@dataclass(frozen=True)
class Order:
    label: str
    key: Callable[[AgentNow], tuple]
    reads: tuple[str, ...] = ()  # the figures of every agent it needs


ORDERS = {
    "name": Order("Name", lambda row: (row.name.lower(),)),
    "team": Order("Team", lambda row: (row.team_name, row.name.lower())),
    "state": Order("State", lambda row: ([key for key, _ in STATES].index(row.state), row.name.lower()), STATE_READS),
    "idle_for": Order("Idle the longest", lambda row: (-(row.idle_for or timedelta(-1)).total_seconds(),
                                                       row.name.lower()), (*STATE_READS, LAST_ACTION)),
    "working_for": Order("In progress the longest", lambda row: (-(row.working_for or timedelta(0)).total_seconds(),
                                                                 row.name.lower()), (WORKING_ON,)),
    "held": Order("Most held", lambda row: (-row.held, row.name.lower()), (HELD,)),
    "completed_today": Order("Most completed today", lambda row: (-row.completed_today, row.name.lower()),
                             (COMPLETIONS,)),
    "last_assigned": Order("Assigned the latest", lambda row: (
        -(row.last_assigned_at.timestamp() if row.last_assigned_at else 0), row.name.lower())),
    "waiting": Order("Most work waiting", lambda row: (-row.waiting, row.name.lower()), (WAITING,)),
}
SORT_LABELS = [(key, order.label) for key, order in ORDERS.items()]

# What a row shows of an agent's profile, in AgentNow's order.
_AGENT_VALUES = ("pk", "user__username", "user__first_name", "user__last_name", "team__name", "capacity", "presence",
                 "presence_since", "presence_reason__label", "last_assigned_at")


def agents_overseen(user) -> QuerySet[AgentProfile]:
    """The agents whose live row a user sees: admins every agent, a supervisor those of the
    teams it supervises."""
    agents = AgentProfile.objects.all()
    if roles.is_admin(user):
        return agents
    return agents.filter(team_id__in=roles.supervised_team_ids(user))


def filter_choices(user) -> tuple[QuerySet[Team], QuerySet[Queue], QuerySet[Skill]]:
    """The teams, queues and skills the filters offer: those of the agents the user sees."""
    overseen = agents_overseen(user)
    teams = Team.objects.filter(pk__in=overseen.values("team_id")).order_by("name")
    queues = Queue.objects.filter(is_active=True, teams__in=teams).distinct().order_by("name")
    skills = Skill.objects.filter(agents__in=overseen).distinct().order_by("name")
    return teams, queues, skills


def agents_now(user, filters: AgentFilters = AgentFilters(), *, sort: str = "name", now: datetime | None = None,
               figures: bool = True) -> list[AgentNow]:
    """The agents the user oversees, filtered and in `sort`'s order, with their figures.
    `figures=False`: only those the order and the filter need, for every agent — the caller
    fills the rest for the rows it shows (`figures_fill`)."""
    now = now or timezone.now()
    agents = agents_overseen(user)
    if filters.team_id:
        agents = agents.filter(team_id=filters.team_id)
    if filters.skill_id:
        agents = agents.filter(skills__pk=filters.skill_id)
    if filters.queue_id:
        agents = agents.filter(pk__in=agents_skilled_for_queue(Queue(pk=filters.queue_id)).values("pk"))
    rows = [
        AgentNow(pk, username, first, last, team or "", capacity, presence, since, reason or "", assigned, now)
        for pk, username, first, last, team, capacity, presence, since, reason, assigned
        in agents.order_by().distinct().values_list(*_AGENT_VALUES)
    ]
    order = ORDERS.get(sort, ORDERS["name"])
    figures_fill(rows, now=now, only=FIGURES if figures else {*order.reads, *(STATE_READS if filters.state else ())})
    listed = [row for row in rows if not filters.state or row.state == filters.state]
    return sorted(listed, key=order.key)


def figures_fill(rows: list[AgentNow], *, now: datetime, only: Iterable[str] = FIGURES) -> None:
    """The rows' figures of the groups `only` names, each group read for all the rows at once
    (eight queries in all whatever their number); a group a row has read already is not read
    again."""
    for figure in FIGURES:
        if figure not in only:
            continue
        rows_by_id = {row.pk: row for row in rows if figure not in row.read}
        if rows_by_id:
            _READS[figure](rows_by_id, now)
            for row in rows_by_id.values():
                row.read.add(figure)


def _last_action_read(rows_by_id: dict[int, AgentNow], now: datetime) -> None:
    last_action = WorkItemEvent.objects.filter(actor_id=OuterRef("pk")).order_by("-at").values("at")[:1]
    for agent_id, at in (AgentProfile.objects.filter(pk__in=list(rows_by_id)).annotate(last=Subquery(last_action))
                         .values_list("pk", "last").order_by()):
        rows_by_id[agent_id].last_action_at = at


def _held_read(rows_by_id: dict[int, AgentNow], now: datetime) -> None:
    held = WorkItem.objects.filter(assignee_id__in=list(rows_by_id), status__in=HELD_STATUSES)
    for agent_id, status, n in held.values_list("assignee_id", "status").annotate(n=Count("*")).order_by():
        row = rows_by_id[agent_id]
        match status:
            case ItemStatus.ASSIGNED:
                row.offered = n
            case ItemStatus.IN_PROGRESS:
                row.in_progress = n
            case ItemStatus.PENDED:
                row.pended = n


def _working_on_read(rows_by_id: dict[int, AgentNow], now: datetime) -> None:
    for agent_id, *item in (WorkItem.objects.filter(assignee_id__in=list(rows_by_id), status=ItemStatus.IN_PROGRESS)
                            .order_by("assignee_id", "started_at", "id").distinct("assignee_id")
                            .values_list("assignee_id", "pk", "title", "started_at", "queue__standard_handle_time")):
        rows_by_id[agent_id].working_on = WorkingOn(*item)


def _completions_read(rows_by_id: dict[int, AgentNow], now: datetime) -> None:
    for agent_id, (completed, met) in completions_today(list(rows_by_id), now=now).items():
        rows_by_id[agent_id].completed_today, rows_by_id[agent_id].met_today = completed, met


def _waiting_read(rows_by_id: dict[int, AgentNow], now: datetime) -> None:
    for agent_id, waiting in waiting_for(list(rows_by_id)).items():
        rows_by_id[agent_id].waiting = waiting


_READS: dict[str, Callable[[dict[int, AgentNow], datetime], None]] = {
    LAST_ACTION: _last_action_read, HELD: _held_read, WORKING_ON: _working_on_read,
    COMPLETIONS: _completions_read, WAITING: _waiting_read,
}


def completions_today(agent_ids: list[int], *, now: datetime) -> dict[int, tuple[int, int]]:
    """Items each agent completed today (the portal's day), and of them those completed by
    their due time: the rollup's day so far, plus the completions it has not read yet. Two
    small queries: the items' history is never scanned."""
    today = rollups.local_day(now)
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for agent_id, completed, met in (
        AgentDay.objects.filter(day=today, agent_id__in=agent_ids).values("agent_id")
        .annotate(c=Sum("completed"), m=Sum("met")).values_list("agent_id", "c", "m").order_by()
    ):
        counts[agent_id] = [completed, met]
    read_up_to, since = rollups.unread_today(now)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT e.actor_id, count(*), count(*) FILTER (WHERE e.at <= i.due_at)
              FROM {WorkItemEvent._meta.db_table} e JOIN {WorkItem._meta.db_table} i ON i.id = e.item_id
             WHERE e.id > %(after)s AND e.at >= %(since)s AND e.kind = %(completed)s AND e.actor_id = ANY(%(ids)s)
             GROUP BY 1
            """,
            {"after": read_up_to, "since": since, "completed": EventKind.COMPLETED,
             "ids": agent_ids},
        )
        for agent_id, completed, met in cursor.fetchall():
            counts[agent_id][0] += completed
            counts[agent_id][1] += met
    return {agent_id: (completed, met) for agent_id, (completed, met) in counts.items()}


def waiting_for(agent_ids: list[int]) -> dict[int, int]:
    """Items waiting in the active queues whose own rule (step 1: teams and skills) admits
    each agent — work it could take now. Two queries: the queues' waiting counts, and per
    queue the agents it admits."""
    # Counted off the waiting items' own index (workitem_queue_head): the active queues are a
    # semi-join on the queue ids, not a join to every waiting row.
    active = Queue.objects.filter(is_active=True).values("pk")
    waiting = dict(
        WorkItem.objects.filter(status=ItemStatus.QUEUED, queue_id__in=active).values("queue_id")
        .annotate(n=Count("*")).values_list("queue_id", "n").order_by()
    )
    if not waiting:
        return {}
    admitted = Queue.objects.filter(pk__in=waiting).annotate(
        agent_ids=ArraySubquery(agents_skilled_for_queue().filter(pk__in=agent_ids).values("pk"))
    ).values_list("pk", "agent_ids")
    per_agent: dict[int, int] = defaultdict(int)
    for queue_id, admitted_ids in admitted:
        for agent_id in admitted_ids:
            per_agent[agent_id] += waiting[queue_id]
    return per_agent
