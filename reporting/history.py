"""History reports, read from the rollups only (never the raw items): a fixed handful of
queries whatever the range or the size of the history.

The metrics, per day or ISO week (Monday to Sunday, cut to the range):

- arrivals: items received into the queues in scope;
- completions; SLA attainment: the share completed at or before their due time;
- handle time: time in progress (each start until the next event), average and p90 (to
  the bin, see reporting.handle_time);
- throughput per hour: completions per hour the agents in scope were logged in;
- productivity: standard minutes earned (each completed item's queue standard time) per
  minute available; utilization: handle time per time logged in (available or away);
- first-pass yield: the share of original items completed that were not sent back as
  rework (a later failed evaluation lowers the day the item was completed);
- rework rate: the share of completed items that were rework;
- QA score: the average of the standing evaluations of the items completed;
- end backlog: open items at the end of the period's last day (arrivals, transfers,
  completions and cancellations summed from the first day of history).

Scope: a queue filter limits everything to those queues. A team filter counts the
completions of its current members and the arrivals and backlog of the queues it serves;
an agent filter counts that agent's completions (queue figures are then not shown).
Presence is not split by queue, so with a queue filter the agents' hours are their whole
hours.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Sum

from allocation.models import AgentProfile, Team
from reporting import handle_time
from reporting.models import AgentDay, PresenceDay, QueueDay, QueueHour

GRAINS = ("day", "week")
FIGURES = ("completed", "met", "handled", "handle_seconds", "standard_seconds", "originals", "reworked",
           "rework_completed", "qa_count", "qa_sum")


@dataclass(frozen=True)
class Scope:
    since: date
    until: date  # inclusive
    grain: str = "day"
    queue_ids: tuple[int, ...] | None = None  # None: every queue
    team: Team | None = None
    agent_id: int | None = None

    def agent_ids(self) -> list[int] | None:
        """Whose completions count: None for everyone's."""
        if self.agent_id is not None:
            return [self.agent_id]
        if self.team is not None:
            return list(AgentProfile.objects.filter(team=self.team).values_list("pk", flat=True))
        return None

    def flow_queue_ids(self) -> list[int] | None:
        """The queues whose arrivals and backlog count (None: all); [] when they do not
        apply (an agent's report)."""
        if self.agent_id is not None:
            return []
        if self.team is None:
            return list(self.queue_ids) if self.queue_ids is not None else None
        served = set(self.team.queues.values_list("pk", flat=True))
        return sorted(served & set(self.queue_ids) if self.queue_ids is not None else served)


@dataclass
class Period:
    start: date
    end: date  # inclusive
    arrivals: int | None = None
    rework_arrivals: int | None = None
    backlog_end: int | None = None
    completed: int = 0
    met: int = 0
    handled: int = 0
    handle_seconds: int = 0
    handle_max_seconds: int = 0
    histogram: list[int] = field(default_factory=handle_time.empty)
    standard_seconds: int = 0
    originals: int = 0
    reworked: int = 0
    rework_completed: int = 0
    qa_count: int = 0
    qa_sum: float = 0.0
    available_seconds: int = 0
    logged_in_seconds: int = 0

    def add_completions(self, row: dict) -> None:
        for name in FIGURES:
            setattr(self, name, getattr(self, name) + (float(row[name]) if name == "qa_sum" else row[name]))
        self.handle_max_seconds = max(self.handle_max_seconds, row["handle_max_seconds"])
        handle_time.add_into(self.histogram, row["handle_histogram"])

    @property
    def label(self) -> str:
        return self.start.isoformat() if self.start == self.end else f"{self.start:%d %b} – {self.end:%d %b %Y}"

    @property
    def sla_attainment(self) -> float | None:
        return self.met / self.completed if self.completed else None

    @property
    def handle_minutes_avg(self) -> float | None:
        return self.handle_seconds / self.handled / 60 if self.handled else None

    @property
    def handle_minutes_p90(self) -> float | None:
        p90 = handle_time.percentile(self.histogram, 0.9, longest=self.handle_max_seconds)
        return None if p90 is None else p90 / 60

    @property
    def throughput_per_hour(self) -> float | None:
        return self.completed / (self.logged_in_seconds / 3600) if self.logged_in_seconds else None

    @property
    def productivity(self) -> float | None:
        return self.standard_seconds / self.available_seconds if self.available_seconds else None

    @property
    def utilization(self) -> float | None:
        return self.handle_seconds / self.logged_in_seconds if self.logged_in_seconds else None

    @property
    def first_pass_yield(self) -> float | None:
        return (self.originals - self.reworked) / self.originals if self.originals else None

    @property
    def rework_rate(self) -> float | None:
        return self.rework_completed / self.completed if self.completed else None

    @property
    def qa_average(self) -> float | None:
        return self.qa_sum / self.qa_count if self.qa_count else None


@dataclass
class History:
    scope: Scope
    periods: list[Period]
    total: Period
    hours: list[tuple[int, float, float]] | None  # (hour, arrivals a day, completions a day) over the range

    @property
    def shows_queue_flows(self) -> bool:
        return self.scope.agent_id is None


def _periods(scope: Scope) -> list[Period]:
    if scope.grain == "day":
        return [Period(start=scope.since + timedelta(days=n), end=scope.since + timedelta(days=n))
                for n in range((scope.until - scope.since).days + 1)]
    periods, start = [], scope.since
    while start <= scope.until:
        end = min(start + timedelta(days=6 - start.weekday()), scope.until)
        periods.append(Period(start=start, end=end))
        start = end + timedelta(days=1)
    return periods


def history(scope: Scope) -> History:
    """Every history metric per period and over the whole range, for a scope."""
    periods = _periods(scope)
    total = Period(start=scope.since, end=scope.until)
    period_of = {}
    for period in periods:
        day = period.start
        while day <= period.end:
            period_of[day] = period
            day += timedelta(days=1)
    in_range = {"day__gte": scope.since, "day__lte": scope.until}
    agent_ids = scope.agent_ids()
    queue_filter = {} if scope.queue_ids is None else {"queue_id__in": scope.queue_ids}

    # 1. Completions, by queue or, with a team or an agent, by agent.
    source = QueueDay.objects.all() if agent_ids is None else AgentDay.objects.filter(agent_id__in=agent_ids)
    for row in source.filter(**in_range, **queue_filter).values("day", "handle_max_seconds", "handle_histogram",
                                                                 *FIGURES).order_by():
        period_of[row["day"]].add_completions(row)
        total.add_completions(row)

    # 2. Arrivals and the backlog: net flows of every day up to the end of the range.
    flow_queues = scope.flow_queue_ids()
    if flow_queues != []:
        flows = QueueDay.objects.filter(day__lte=scope.until)
        if flow_queues is not None:
            flows = flows.filter(queue_id__in=flow_queues)
        for period in periods:
            period.arrivals = period.rework_arrivals = 0
        total.arrivals = total.rework_arrivals = 0
        after_day: list[tuple[date, int]] = []  # (day, backlog at its end), days with flows only
        backlog = 0
        for day, arrivals, rework, net in (
            flows.values("day").annotate(
                a=Sum("arrivals"), r=Sum("rework_arrivals"),
                net=Sum("arrivals") + Sum("transfers_in") - Sum("transfers_out") - Sum("completed") - Sum("cancelled"),
            ).values_list("day", "a", "r", "net").order_by("day")
        ):
            backlog += net
            after_day.append((day, backlog))
            for period in (period_of.get(day), total if day >= scope.since else None):
                if period is not None:
                    period.arrivals += arrivals
                    period.rework_arrivals += rework
        index, backlog = 0, 0
        for period in periods:  # the backlog after the last day with flows up to the period's end
            while index < len(after_day) and after_day[index][0] <= period.end:
                backlog = after_day[index][1]
                index += 1
            period.backlog_end = backlog
        total.backlog_end = periods[-1].backlog_end if periods else None

    # 3. Time logged in and available.
    presence = PresenceDay.objects.filter(**in_range)
    if agent_ids is not None:
        presence = presence.filter(agent_id__in=agent_ids)
    for day, available, logged_in in presence.values("day").annotate(
        a=Sum("available_seconds"), l=Sum("logged_in_seconds")
    ).values_list("day", "a", "l").order_by():
        for period in (period_of[day], total):
            period.available_seconds += available
            period.logged_in_seconds += logged_in

    # 4. The intraday profile of the queues in scope.
    hours = None
    if flow_queues != []:
        hourly = QueueHour.objects.filter(**in_range)
        if flow_queues is not None:
            hourly = hourly.filter(queue_id__in=flow_queues)
        days = (scope.until - scope.since).days + 1
        by_hour = defaultdict(lambda: (0, 0))
        for hour, arrivals, completed in hourly.values("hour").annotate(
            a=Sum("arrivals"), c=Sum("completed")
        ).values_list("hour", "a", "c").order_by():
            by_hour[hour] = (arrivals, completed)
        hours = [(hour, by_hour[hour][0] / days, by_hour[hour][1] / days) for hour in range(24)]
    return History(scope=scope, periods=periods, total=total, hours=hours)


@dataclass(frozen=True)
class QueueAttainment:
    queue_id: int
    code: str
    name: str
    completed: int
    met: int

    @property
    def attainment(self) -> float | None:
        return self.met / self.completed if self.completed else None


def sla_by_queue(scope: Scope) -> list[QueueAttainment]:
    """SLA attainment per queue over the scope's range (one query)."""
    agent_ids = scope.agent_ids()
    source = QueueDay.objects.all() if agent_ids is None else AgentDay.objects.filter(agent_id__in=agent_ids)
    source = source.filter(day__gte=scope.since, day__lte=scope.until)
    if scope.queue_ids is not None:
        source = source.filter(queue_id__in=scope.queue_ids)
    rows = (source.values("queue_id", "queue__code", "queue__name").annotate(c=Sum("completed"), m=Sum("met"))
            .filter(c__gt=0).order_by("queue__name"))
    return [QueueAttainment(queue_id=r["queue_id"], code=r["queue__code"], name=r["queue__name"], completed=r["c"],
                            met=r["m"]) for r in rows]


def agent_totals(*, agent_ids: list[int], since: date, until: date) -> dict[int, Period]:
    """Each agent's figures over [since, until], for comparing team members (two queries)."""
    totals = {agent_id: Period(start=since, end=until) for agent_id in agent_ids}
    for row in AgentDay.objects.filter(agent_id__in=agent_ids, day__gte=since, day__lte=until).values(
        "agent_id", "handle_max_seconds", "handle_histogram", *FIGURES
    ).order_by():
        totals[row["agent_id"]].add_completions(row)
    for agent_id, available, logged_in in (
        PresenceDay.objects.filter(agent_id__in=agent_ids, day__gte=since, day__lte=until).values("agent_id")
        .annotate(a=Sum("available_seconds"), l=Sum("logged_in_seconds")).values_list("agent_id", "a", "l").order_by()
    ):
        totals[agent_id].available_seconds, totals[agent_id].logged_in_seconds = available, logged_in
    return totals
