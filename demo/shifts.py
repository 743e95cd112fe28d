"""When the demo agents worked over the history window: their shifts, the queues they could
take work from, their pace, and the presence history (available, away on breaks and lunch,
offline) the shifts leave behind.

The item history reads these plans to decide who pulled each item and when, so an item
is only ever worked by an eligible agent who was on shift at the time.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from allocation import eligibility
from allocation.models import AgentProfile, Presence, PresenceChange
from demo.catalog import HISTORY_DAYS

DAY = timedelta(days=1)


@dataclass
class AgentPlan:
    """An agent as history sees it: who, which queues, when on shift, and how fast it works."""

    user_id: int
    eligible_queue_ids: set[int]
    shifts: list[tuple[datetime, datetime]] = field(default_factory=list)
    last_assigned_at: datetime | None = None
    # The agent's time for an item against the queue's standard time. Standard times carry
    # allowances, so most agents beat them and newer ones take longer: standard minutes
    # earned (productivity) and minutes handled (utilization) differ, as on a real floor.
    pace: float = 1.0

    @cached_property
    def shift_ends(self) -> list[datetime]:
        return [end for _, end in self.shifts]

    def next_on_shift(self, at: datetime) -> datetime | None:
        """The first moment at or after `at` when the agent is on shift, if any."""
        index = bisect_right(self.shift_ends, at)
        if index == len(self.shifts):
            return None
        return max(self.shifts[index][0], at)


# A working day as (start, end) offsets from the shift's start: the time between them is
# spent away (breaks, lunch), logged in but not available for work.
WEEKDAY_SHIFT = [(0, 120), (135, 240), (285, 405), (420, 510)]  # 8½ h: 7¼ h available
WEEKEND_SHIFT = [(0, 120), (135, 240), (270, 390), (405, 480)]  # 8 h: 7 h available


def agent_plans(rng: random.Random, agents: list[AgentProfile], now: datetime) -> list[AgentPlan]:
    """Shifts over the history window: early (07:00) or late (11:00) on weekdays, 8½ hours
    with two 15-minute breaks and a 45-minute lunch; every fifth agent also works weekends
    09:00–17:00. Each agent works at its own pace (0.6–1.1 × the standard time)."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    plans = []
    for index, agent in enumerate(agents):
        eligible = set(eligibility.queues_eligible_for(agent_id=agent.pk, team_id=agent.team_id)
                       .values_list("pk", flat=True))
        plan = AgentPlan(user_id=agent.pk, eligible_queue_ids=eligible, pace=round(rng.uniform(0.6, 1.1), 2))
        start_hour = 7 if index % 2 == 0 else 11
        for days_back in range(HISTORY_DAYS, 0, -1):
            day = today - days_back * DAY
            jitter = timedelta(minutes=rng.randint(-10, 12))
            if day.weekday() < 5:
                start, spans = day + timedelta(hours=start_hour) + jitter, WEEKDAY_SHIFT
            elif index % 5 == 0:
                start, spans = day + timedelta(hours=9) + jitter, WEEKEND_SHIFT
            else:
                continue
            plan.shifts += [(start + timedelta(minutes=begin), start + timedelta(minutes=end)) for begin, end in spans]
        plans.append(plan)
    return plans


def presence_history_write(plans: list[AgentPlan], agents: list[AgentProfile]) -> None:
    """Each shift in the presence history: available while working, away between spans
    (breaks, lunch), offline at the day's end."""
    changes = []
    for plan, agent in zip(plans, agents, strict=True):
        for index, (start, end) in enumerate(plan.shifts):
            next_start = plan.shifts[index + 1][0] if index + 1 < len(plan.shifts) else None
            same_day = next_start is not None and next_start.date() == start.date()
            changes.append(PresenceChange(agent=agent, presence=Presence.AVAILABLE, at=start, actor_id=agent.pk))
            changes.append(PresenceChange(agent=agent, presence=Presence.AWAY if same_day else Presence.OFFLINE,
                                          at=end, actor_id=agent.pk))
        if plan.shifts:
            agent.presence_since = plan.shifts[-1][1]
        agent.last_assigned_at = plan.last_assigned_at
    PresenceChange.objects.bulk_create(changes, batch_size=2000)
    AgentProfile.objects.bulk_update(agents, ["presence_since", "last_assigned_at"])
