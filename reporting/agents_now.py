"""The supervisor's live view of agents: each agent of the user's teams now — presence and
for how long (with the reason), items held against capacity, the item in progress and for
how long against its queue's standard time, pended items, completed and SLA met today, the
last assignment, idle time, and the work waiting that the agent could take.

A fixed number of queries whatever the number of agents (tests/reporting/test_agents_now.py
pins it): the agents, then their figures (`figures_fill`) — their last action (one index
probe each, `event_actor_at`), the items they hold, grouped, their items in progress,
today's completions (the rollup's day so far plus the events it has not read yet, as the
wallboard's today), and the waiting work of the queues that admit each of them (the queues'
waiting counts, and per queue the agents its own rule admits). Listed by name or team (no
figure needed to order or filter), a page reads the figures of its own agents only."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import Count, OuterRef, QuerySet, Subquery, Sum
from django.utils import timezone

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


@dataclass(frozen=True)
class WorkingOn:
    """An agent's item in progress (read as values: hundreds of rows)."""

    pk: int
    title: str
    started_at: datetime | None
    standard: timedelta  # its queue's standard handle time


@dataclass
class AgentNow:
    agent: AgentProfile
    now: datetime
    last_action_at: datetime | None = None
    offered: int = 0  # assigned to it, not started
    in_progress: int = 0
    pended: int = 0
    working_on: WorkingOn | None = None  # the item in progress the longest
    completed_today: int = 0
    met_today: int = 0
    waiting: int = 0  # waiting in the queues whose own rule admits the agent
    filled: bool = False  # the figures above read (figures_fill)

    @property
    def name(self) -> str:
        return self.agent.user.get_full_name() or self.agent.user.get_username()

    @property
    def held(self) -> int:
        """Against capacity: assigned or in progress (pended items do not count)."""
        return self.offered + self.in_progress

    @property
    def presence_for(self) -> timedelta:
        return max(self.now - self.agent.presence_since, timedelta(0))

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
        if self.agent.presence == Presence.AVAILABLE:
            return IDLE
        return self.agent.presence

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def idle_since(self) -> datetime | None:
        """While available with nothing in progress: its last action, or becoming available
        if later (a person's presence change is an action too)."""
        if self.state != IDLE:
            return None
        return max(moment for moment in (self.last_action_at, self.agent.presence_since) if moment is not None)

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


SORTS = {
    "name": lambda row: (row.name.lower(),),
    "team": lambda row: (row.agent.team.name if row.agent.team else "", row.name.lower()),
    "state": lambda row: ([key for key, _ in STATES].index(row.state), row.name.lower()),
    "held": lambda row: (-row.held, row.name.lower()),
    "working_for": lambda row: (-(row.working_for or timedelta(0)).total_seconds(), row.name.lower()),
    "idle_for": lambda row: (-(row.idle_for or timedelta(-1)).total_seconds(), row.name.lower()),
    "completed_today": lambda row: (-row.completed_today, row.name.lower()),
    "last_assigned": lambda row: (-(row.agent.last_assigned_at.timestamp() if row.agent.last_assigned_at else 0),
                                  row.name.lower()),
    "waiting": lambda row: (-row.waiting, row.name.lower()),
}
SORT_LABELS = [("name", "Name"), ("team", "Team"), ("state", "State"), ("idle_for", "Idle the longest"),
               ("working_for", "In progress the longest"), ("held", "Most held"),
               ("completed_today", "Most completed today"), ("last_assigned", "Assigned the latest"),
               ("waiting", "Most work waiting")]


# What a row shows of an agent (hundreds of rows: the rest is not read).
AGENT_FIELDS = ("team_id", "capacity", "presence", "presence_since", "presence_reason_id", "last_assigned_at",
                "user__id", "user__username", "user__first_name", "user__last_name", "team__id", "team__name",
                "presence_reason__id", "presence_reason__label")


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


# Orders that need no figure: a page of them reads the figures of its own agents only.
ORDERS_WITHOUT_FIGURES = ("name", "team", "last_assigned")


def agents_now(user, filters: AgentFilters = AgentFilters(), *, sort: str = "name", now: datetime | None = None,
               figures: bool = True) -> list[AgentNow]:
    """The agents the user oversees, filtered and in `sort`'s order, with their figures.
    `figures=False`: only when the filter or the order needs them (a state, an order by a
    figure) — the caller fills those of the rows it shows (`figures_fill`)."""
    now = now or timezone.now()
    agents = agents_overseen(user)
    if filters.team_id:
        agents = agents.filter(team_id=filters.team_id)
    if filters.skill_id:
        agents = agents.filter(skills__pk=filters.skill_id)
    if filters.queue_id:
        agents = agents.filter(pk__in=agents_skilled_for_queue(Queue(pk=filters.queue_id)).values("pk"))
    rows = [AgentNow(agent=agent, now=now)
            for agent in agents.select_related("user", "team", "presence_reason").only(*AGENT_FIELDS).distinct()]
    sort = sort if sort in SORTS else "name"
    if figures or filters.state or sort not in ORDERS_WITHOUT_FIGURES:
        figures_fill(rows, now=now)
    listed = [row for row in rows if not filters.state or row.state == filters.state]
    return sorted(listed, key=SORTS[sort])


def figures_fill(rows: list[AgentNow], *, now: datetime) -> None:
    """Each row's figures, read for all the rows at once (seven queries whatever their
    number); rows filled already are left as they are."""
    rows_by_id = {row.agent.pk: row for row in rows if not row.filled}
    if not rows_by_id:
        return
    ids = list(rows_by_id)
    last_action = WorkItemEvent.objects.filter(actor_id=OuterRef("pk")).order_by("-at").values("at")[:1]
    for agent_id, at in (AgentProfile.objects.filter(pk__in=ids).annotate(last=Subquery(last_action))
                         .values_list("pk", "last")):
        rows_by_id[agent_id].last_action_at = at
    held = WorkItem.objects.filter(assignee_id__in=ids, status__in=HELD_STATUSES)
    for agent_id, status, n in held.values_list("assignee_id", "status").annotate(n=Count("*")).order_by():
        row = rows_by_id[agent_id]
        match status:
            case ItemStatus.ASSIGNED:
                row.offered = n
            case ItemStatus.IN_PROGRESS:
                row.in_progress = n
            case ItemStatus.PENDED:
                row.pended = n
    for agent_id, *item in (held.filter(status=ItemStatus.IN_PROGRESS)
                            .order_by("assignee_id", "started_at", "id").distinct("assignee_id")
                            .values_list("assignee_id", "pk", "title", "started_at", "queue__standard_handle_time")):
        rows_by_id[agent_id].working_on = WorkingOn(*item)
    for agent_id, (completed, met) in completions_today(ids, now=now).items():
        rows_by_id[agent_id].completed_today, rows_by_id[agent_id].met_today = completed, met
    for agent_id, waiting in waiting_for(ids).items():
        rows_by_id[agent_id].waiting = waiting
    for row in rows_by_id.values():
        row.filled = True


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
