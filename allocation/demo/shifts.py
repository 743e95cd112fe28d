"""When the demo agents worked over the history window: their shifts, the queues they could
take work from, and the presence history (available, away for lunch, offline) the shifts
leave behind.

The item history reads these plans to decide who pulled each item and when, so an item
is only ever worked by an eligible agent who was on shift at the time.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from allocation import selectors
from allocation.demo.catalog import HISTORY_DAYS
from allocation.models import AgentProfile, Presence, PresenceChange

DAY = timedelta(days=1)


@dataclass
class AgentPlan:
    """An agent as history sees it: who, which queues, and when on shift."""

    user_id: int
    eligible_queue_ids: set[int]
    shifts: list[tuple[datetime, datetime]] = field(default_factory=list)
    last_assigned_at: datetime | None = None

    @cached_property
    def shift_ends(self) -> list[datetime]:
        return [end for _, end in self.shifts]

    def next_on_shift(self, at: datetime) -> datetime | None:
        """The first moment at or after `at` when the agent is on shift, if any."""
        index = bisect_right(self.shift_ends, at)
        if index == len(self.shifts):
            return None
        return max(self.shifts[index][0], at)


def agent_plans(rng: random.Random, agents: list[AgentProfile], now: datetime) -> list[AgentPlan]:
    """Shifts over the history window: early (07:00) or late (11:00) on weekdays, 8½ hours
    with a 45-minute lunch; every fifth agent also works weekends 09:00–17:00."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    plans = []
    for index, agent in enumerate(agents):
        eligible = set(selectors.queues_eligible_for(agent_id=agent.pk, team_id=agent.team_id)
                       .values_list("pk", flat=True))
        plan = AgentPlan(user_id=agent.pk, eligible_queue_ids=eligible)
        start_hour = 7 if index % 2 == 0 else 11
        for days_back in range(HISTORY_DAYS, 0, -1):
            day = today - days_back * DAY
            jitter = timedelta(minutes=rng.randint(-10, 12))
            if day.weekday() < 5:
                start = day + timedelta(hours=start_hour) + jitter
                plan.shifts += [(start, start + timedelta(hours=4)),
                                (start + timedelta(hours=4, minutes=45), start + timedelta(hours=8, minutes=30))]
            elif index % 5 == 0:
                start = day + timedelta(hours=9) + jitter
                plan.shifts += [(start, start + timedelta(hours=4)),
                                (start + timedelta(hours=4, minutes=30), start + timedelta(hours=8))]
        plans.append(plan)
    return plans


def presence_history_write(plans: list[AgentPlan], agents: list[AgentProfile]) -> None:
    """Each shift in the presence history: available at its start, away for lunch, offline at its end."""
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
