"""The supervisor's home: what needs attention now, in order, each line linking to where it
is handled, and today's figures beside yesterday's (README, "Supervisor home").

In order: breached items, then items at risk, of the supervisor's teams' queues (one line
per queue, the most first); queues whose waiting work will not clear by the end of today's
working hours at today's pace (a projection from the rollups, and labelled so); agents away
or offline past the grace period who still hold work; disputes waiting for the user's
decision; unread notifications. Nothing to show: the page says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from allocation import transitions
from allocation.models import HELD_STATUSES, AgentProfile, ItemStatus, Presence, Queue, SlaPolicy, WorkItem
from allocation.selectors import AT_RISK, sla_standing_q
from allocation.sla.policies import PolicyBook
from allocation.sla.working_time import NoWorkingTime, WorkingCalendar, working_between
from core import roles
from core.models import Notification
from quality.selectors import disputes_to_decide
from reporting import rollups
from reporting.history import Period, Scope
from reporting.history import history as history_report
from reporting.selectors import today_flows

BAD, WARN, INFO = "bad", "warn", "info"


@dataclass(frozen=True)
class AttentionLine:
    severity: str  # BAD, WARN or INFO: how it is shown
    text: str
    url: str
    count: int
    projection: bool = False  # a forecast, not a count: labelled so


@dataclass(frozen=True)
class Projection:
    """A queue's waiting work against what today's pace gets done by the end of today's
    working hours."""

    queue: Queue
    waiting: int
    completed_today: int
    worked_hours: float  # working time of the queue's calendar since the day began
    left_hours: float  # working time left today
    day_ends_at: datetime

    @property
    def pace(self) -> float:
        """Completions per working hour today."""
        return self.completed_today / self.worked_hours if self.worked_hours else 0.0

    @property
    def clears_by(self) -> int:
        return math.floor(self.pace * self.left_hours)

    @property
    def clears(self) -> bool:
        return self.waiting <= self.clears_by


def supervised_queues(user) -> list[Queue]:
    """The active queues the user's reach covers (a supervisor: its teams' queues; an admin: all)."""
    reach = transitions.queues_in_reach(user)
    queues = Queue.objects.filter(is_active=True) if reach is None else reach.filter(is_active=True)
    return list(queues.distinct().order_by("name"))


def attention(user, *, now: datetime | None = None, queues: list[Queue] | None = None) -> list[AttentionLine]:
    now = now or timezone.now()
    queues = queues if queues is not None else supervised_queues(user)
    lines = [*_sla_lines(queues, now=now), *_projection_lines(queues, now=now), *_away_with_work(user, now=now)]
    disputes = len(disputes_to_decide(user))
    if disputes:
        verb = "waits" if disputes == 1 else "wait"
        lines.append(AttentionLine(WARN, f"{disputes} disputed evaluation{_s(disputes)} {verb} for your decision",
                                   reverse("quality:home"), disputes))
    unread = Notification.objects.filter(user=user, read_at__isnull=True).count()
    if unread:
        lines.append(AttentionLine(INFO, f"{unread} unread notification{_s(unread)}", reverse("notifications"),
                                   unread))
    return lines


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _items_url(**params) -> str:
    return f"{reverse('work:items')}?{urlencode(params)}"


def _sla_lines(queues: list[Queue], *, now: datetime) -> list[AttentionLine]:
    counts = (
        WorkItem.objects.filter(queue__in=queues).values("queue_id")
        .annotate(breached=Count("pk", filter=sla_standing_q("breached", now=now)),
                  at_risk=Count("pk", filter=sla_standing_q(AT_RISK, now=now)))
        .filter(Q(breached__gt=0) | Q(at_risk__gt=0)).values_list("queue_id", "breached", "at_risk").order_by()
    )
    by_id = {queue.pk: queue for queue in queues}
    breached, at_risk = [], []
    for queue_id, n_breached, n_at_risk in counts:
        queue = by_id[queue_id]
        if n_breached:
            breached.append(AttentionLine(BAD, f"{queue.name}: {n_breached} item{_s(n_breached)} breached",
                                          _items_url(queue=queue.code, sla="breached"), n_breached))
        if n_at_risk:
            at_risk.append(AttentionLine(WARN, f"{queue.name}: {n_at_risk} item{_s(n_at_risk)} at risk",
                                         _items_url(queue=queue.code, sla=AT_RISK), n_at_risk))
    return [*sorted(breached, key=lambda line: -line.count), *sorted(at_risk, key=lambda line: -line.count)]


def projections(queues: list[Queue], *, now: datetime) -> list[Projection]:
    """Per queue with work waiting, today's pace against the working time left today (the
    queue's default policy's calendar; without one, around the clock). None for a queue with
    no working time left today: after hours nothing clears today, and every queue would say
    so."""
    waiting = dict(WorkItem.objects.filter(queue__in=queues, status=ItemStatus.QUEUED).values("queue_id")
                   .annotate(n=Count("*")).values_list("queue_id", "n").order_by())
    if not waiting:
        return []
    today = rollups.local_day(now)
    day_start = rollups.day_start(today)
    day_end = rollups.day_start(today + timedelta(days=1))
    completed = {queue_id: done for queue_id, (_, done) in today_flows(now=now, queue_ids=list(waiting)).items()}
    book = PolicyBook()
    calendar_ids = dict(SlaPolicy.objects.filter(queue_id__in=waiting, priority__isnull=True)
                        .values_list("queue_id", "calendar_id"))
    book.load_calendars(calendar_ids.values())
    found = []
    for queue in queues:
        if queue.pk not in waiting:
            continue
        calendar: WorkingCalendar | None = book.calendar(calendar_ids.get(queue.pk))
        try:
            worked = working_between(calendar, day_start, now)
            left = working_between(calendar, now, day_end)
        except NoWorkingTime:
            continue
        if left <= timedelta(0):
            continue
        found.append(Projection(queue=queue, waiting=waiting[queue.pk], completed_today=completed.get(queue.pk, 0),
                                worked_hours=worked.total_seconds() / 3600, left_hours=left.total_seconds() / 3600,
                                day_ends_at=_working_day_end(calendar, now, day_end)))
    return found


def _working_day_end(calendar: WorkingCalendar | None, now: datetime, day_end: datetime) -> datetime:
    """The end of today's last working window (midnight around the clock)."""
    if calendar is None:
        return day_end
    end = now
    for opens, closes in calendar.intervals(now):
        if opens >= day_end:
            break
        end = min(closes, day_end)
    return end


def _projection_lines(queues: list[Queue], *, now: datetime) -> list[AttentionLine]:
    lines = []
    for p in projections(queues, now=now):
        if p.clears:
            continue
        until = timezone.localtime(p.day_ends_at).strftime("%H:%M")
        pace = (f"at today's pace ({p.pace:.1f} an hour) about {p.clears_by} more get done by {until}"
                if p.completed_today else f"nothing completed yet today, {p.left_hours:.1f} working hours left")
        lines.append(AttentionLine(
            WARN, f"{p.queue.name}: {p.waiting} waiting will not clear today — {pace}",
            _items_url(queue=p.queue.code, status=ItemStatus.QUEUED), p.waiting - p.clears_by, projection=True))
    return sorted(lines, key=lambda line: -line.count)


def _away_with_work(user, *, now: datetime) -> list[AttentionLine]:
    """Agents of the user's teams away or offline for longer than the rebalancing grace who
    still hold items (the job could not move them: nobody eligible took them, or they are
    pended)."""
    agents = AgentProfile.objects.filter(presence__in=(Presence.AWAY, Presence.OFFLINE),
                                         presence_since__lt=now - settings.WFO_REBALANCE_GRACE)
    if not roles.is_admin(user):
        agents = agents.filter(team_id__in=roles.supervised_team_ids(user))
    held = dict(WorkItem.objects.filter(assignee_id__in=agents.values("pk"), status__in=HELD_STATUSES)
                .values("assignee_id").annotate(n=Count("*")).values_list("assignee_id", "n").order_by())
    lines = []
    for agent in agents.filter(pk__in=held).select_related("user", "presence_reason").order_by("presence_since"):
        name = agent.user.get_full_name() or agent.user.get_username()
        minutes = int((now - agent.presence_since).total_seconds() // 60)
        n = held[agent.pk]
        lines.append(AttentionLine(
            WARN, f"{name} has been {agent.presence_words} for {minutes} min and still holds {n} item{_s(n)}",
            f"{reverse('work:reassign')}?{urlencode({'assignee': agent.user.get_username(), 'select': 'all'})}", n))
    return lines


@dataclass(frozen=True)
class DayFigures:
    today: Period
    yesterday: Period


def today_and_yesterday(user, *, now: datetime | None = None, queues: list[Queue] | None = None) -> DayFigures:
    """Arrivals, completions, SLA met and handle time of the user's queues, today so far
    (the rollup's day, a minute behind at most) beside yesterday's."""
    now = now or timezone.now()
    today, yesterday = rollups.local_day(now), rollups.local_day(now) - timedelta(days=1)
    every_queue = transitions.queues_in_reach(user) is None
    queues = queues if queues is not None else supervised_queues(user)
    queue_ids = None if every_queue else tuple(sorted(queue.pk for queue in queues))
    if queue_ids == ():  # a supervisor of no queue: nothing of anyone else's
        return DayFigures(today=Period(today, today), yesterday=Period(yesterday, yesterday))
    report = history_report(Scope(since=yesterday, until=today, grain="day", queue_ids=queue_ids))
    by_day = {period.start: period for period in report.periods}
    return DayFigures(today=by_day.get(today, Period(today, today)),
                      yesterday=by_day.get(yesterday, Period(yesterday, yesterday)))

