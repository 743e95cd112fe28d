"""Which SLA policy an item runs on, and the business calendars behind them.

A `PolicyBook` is a cache for one unit of work (an intake batch, one scan of the alert
job, one page): each queue's policies and each calendar's windows and holidays are read
once, however many items ask.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from allocation.models import BREACH, DEFAULT_WARNING_THRESHOLDS, BusinessCalendar, Queue, SlaPolicy
from allocation.sla.working_time import Window, WorkingCalendar


@dataclass(frozen=True)
class ClockPolicy:
    """What one item's clock runs on: a copy of its policy taken when the clock starts."""

    target: timedelta
    calendar_id: int | None = None  # None: around the clock (24×7)
    warning_thresholds: tuple[int, ...] = tuple(DEFAULT_WARNING_THRESHOLDS)
    pause_when_pended: bool = True
    policy_id: int | None = None  # the SlaPolicy copied; None: the queue's plain target

    @property
    def thresholds(self) -> tuple[int, ...]:
        """The warnings, then the breach: every point the clock alerts at, in order."""
        return (*sorted(self.warning_thresholds), BREACH)


class PolicyBook:
    def __init__(self) -> None:
        self._policies: dict[int, dict[int | None, SlaPolicy]] = {}
        self._calendars: dict[int, WorkingCalendar] = {}

    def policy_for(self, queue: Queue, priority: int) -> ClockPolicy:
        """The queue's policy for this priority, else its default policy, else the queue's
        plain around-the-clock target (a queue nobody has given a policy yet)."""
        if queue.pk not in self._policies:
            self._policies[queue.pk] = {p.priority: p for p in SlaPolicy.objects.filter(queue=queue)}
        by_priority = self._policies[queue.pk]
        policy = by_priority.get(priority) or by_priority.get(None)
        if policy is None:
            return ClockPolicy(target=queue.sla_target)
        return ClockPolicy(
            target=policy.target,
            calendar_id=policy.calendar_id,
            warning_thresholds=tuple(sorted(policy.warning_thresholds)),
            pause_when_pended=policy.pause_when_pended,
            policy_id=policy.pk,
        )

    def load_policies(self, queues: Iterable[Queue]) -> None:
        """Read the policies of the queues not read yet, and their calendars, at once (4
        queries), for work that spans many queues: an intake batch costs the same however
        many queues it names."""
        wanted = {queue.pk for queue in queues if queue.pk not in self._policies}
        if not wanted:
            return
        for queue_id in wanted:
            self._policies[queue_id] = {}
        policies = list(SlaPolicy.objects.filter(queue_id__in=wanted))
        for policy in policies:
            self._policies[policy.queue_id][policy.priority] = policy
        self.load_calendars(policy.calendar_id for policy in policies)

    def calendar(self, calendar_id: int | None) -> WorkingCalendar | None:
        if calendar_id is None:
            return None
        if calendar_id not in self._calendars:
            self.load_calendars([calendar_id])
        return self._calendars[calendar_id]

    def load_calendars(self, calendar_ids) -> None:
        """Read the calendars not read yet, with their windows and holidays (3 queries)."""
        wanted = {pk for pk in calendar_ids if pk is not None and pk not in self._calendars}
        if not wanted:
            return
        for calendar in BusinessCalendar.objects.filter(pk__in=wanted).prefetch_related("windows", "holidays"):
            self._calendars[calendar.pk] = working_calendar(calendar)


def working_calendar(calendar: BusinessCalendar) -> WorkingCalendar:
    """The arithmetic's view of a calendar (its windows and holidays must be loaded)."""
    return WorkingCalendar(
        zone=ZoneInfo(calendar.time_zone),
        windows=tuple(Window(weekday=w.weekday, start=w.start, end=w.end) for w in calendar.windows.all()),
        holidays=frozenset(h.date for h in calendar.holidays.all()),
    )
