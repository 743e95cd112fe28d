"""Work never gets stuck with an absent agent (DESIGN.md, "Rebalancing"): the rules of the
rebalancing job (allocation/tasks.py) — absent or over-capacity holders, due follow-ups,
holders no longer qualified, idle agents set offline. The other periodic jobs have a module
each (reservations.py, push.py); how an item moves — locks, re-checks, events,
explanations — is allocation/services/moves.py.

Each pass takes `now` once, when it starts: what its rules match is decided against it.
Its moves are dated when they happen, under the item's lock (moves.moved_at).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from allocation import eligibility, events
from allocation.models import (
    ACTIVE_STATUSES,
    AgentProfile,
    ItemStatus,
    Presence,
    WorkItem,
)
from allocation.services.agents import agent_set_presence
from allocation.services.moves import BATCH, MoveCount, Receivers, move_held_batch, move_one, sweep
from core.actors import SystemActor

REBALANCER = SystemActor("rebalancer")
IDLE_TIMEOUT = SystemActor("idle-timeout")



@dataclass
class RebalanceResult:
    by_rule: dict[str, MoveCount] = field(default_factory=dict)
    set_offline: int = 0

    @property
    def moved(self) -> int:
        return sum(count.moved for count in self.by_rule.values())


# Rebalancing --------------------------------------------------------------------------------

def rebalance(*, now: datetime | None = None, batch_size: int = BATCH) -> RebalanceResult:
    """One pass of every rebalancing rule over every item it matches, `batch_size` items
    per transaction (absent holders, lost eligibility); the rarer rules (over capacity,
    follow-ups) move up to `batch_size` items one by one."""
    now = now or timezone.now()
    result = RebalanceResult()
    result.set_offline = agents_idle_set_offline(now=now)
    receivers = Receivers()
    result.by_rule[events.RULE_ABSENT] = _absent_holders(now, batch_size, receivers)
    result.by_rule[events.RULE_OVER_CAPACITY] = _over_capacity(now, batch_size)
    result.by_rule[events.RULE_FOLLOW_UP] = _follow_ups_due(now, batch_size)
    result.by_rule[events.RULE_NOT_ELIGIBLE] = _holders_no_longer_eligible(now, batch_size, Receivers())
    return result


def _absent_holders(now: datetime, batch_size: int, receivers: Receivers) -> MoveCount:
    grace = settings.WFO_REBALANCE_GRACE
    applies = Q(
        status__in=ACTIVE_STATUSES,
        assignee__agent_profile__presence__in=[Presence.AWAY, Presence.OFFLINE],
        assignee__agent_profile__presence_since__lt=now - grace,
    )
    return sweep(WorkItem.objects.filter(applies), lambda ids: move_held_batch(
        ids, rule_applies=applies, actor=REBALANCER, event=events.rebalanced, rule=events.RULE_ABSENT, now=now,
        reason=f"Its holder has been away or offline for more than {_minutes(grace)}.", to_agent=True,
        receivers=receivers,
    ), batch_size)


def _over_capacity(now: datetime, batch_size: int) -> MoveCount:
    """Agents holding more than their (lowered) capacity give up their newest items."""
    count = MoveCount()
    agents = (
        AgentProfile.objects.annotate(active=eligibility.active_items_held()).filter(active__gt=F("capacity"))
        .order_by("pk")
    )
    for agent in agents[:batch_size]:
        excess = agent.active - agent.capacity
        newest = (
            WorkItem.objects.filter(assignee_id=agent.pk, status__in=ACTIVE_STATUSES)
            .order_by("-assigned_at", "-id").values_list("pk", flat=True)[:excess]
        )

        def over(item: WorkItem, agent=agent) -> bool:
            if item.assignee_id != agent.pk or item.status not in ACTIVE_STATUSES:
                return False
            capacity = AgentProfile.objects.values_list("capacity", flat=True).get(pk=agent.pk)
            return eligibility.active_item_count(agent.pk) > capacity

        for item_id in list(newest):
            count.add(move_one(
                item_id, actor=REBALANCER, event=events.rebalanced, rule=events.RULE_OVER_CAPACITY, still_applies=over,
                now=now, reason=f"{agent} holds more than its capacity of {agent.capacity}.", to_agent=True,
            ))
    return count


def _follow_ups_due(now: datetime, batch_size: int) -> MoveCount:
    """Pended items whose follow-up time came go back to their agent, wait for it, or go to
    the queue (moves.follow_up_destination)."""

    def due(item: WorkItem) -> bool:
        return item.status == ItemStatus.PENDED and item.pended_until <= now

    count = MoveCount()
    items = WorkItem.objects.filter(status=ItemStatus.PENDED, pended_until__lte=now).order_by("pended_until", "id")
    for item_id in list(items.values_list("pk", flat=True)[:batch_size]):
        count.add(move_one(
            item_id, actor=REBALANCER, event=events.follow_up_due, rule=events.RULE_FOLLOW_UP, still_applies=due,
            now=now, reason="The follow-up time came.", to_agent=False, to_holder=True,
        ))
    return count


def _holders_no_longer_eligible(now: datetime, batch_size: int, receivers: Receivers) -> MoveCount:
    """Held items of agents whose team no longer serves the queue or who lost a required
    skill (or level) move on."""
    applies = Q(status__in=ACTIVE_STATUSES) & eligibility.holder_unqualified()
    return sweep(WorkItem.objects.filter(applies), lambda ids: move_held_batch(
        ids, rule_applies=applies, actor=REBALANCER, event=events.rebalanced, rule=events.RULE_NOT_ELIGIBLE, now=now,
        reason="Its holder no longer has the team or skills the queue requires.", to_agent=True, receivers=receivers,
    ), batch_size)


def agents_idle_set_offline(*, now: datetime | None = None) -> int:
    """Agents shown available who made no request past the idle time — no page, no API
    call (allocation.middleware records both) — go offline, so rebalancing sees real absence."""
    now = now or timezone.now()
    idle = AgentProfile.objects.filter(
        presence__in=[Presence.AVAILABLE, Presence.AWAY], last_seen_at__lt=now - settings.WFO_PRESENCE_IDLE
    )
    changed = 0
    for agent_id in list(idle.values_list("pk", flat=True)[:BATCH]):
        agent_set_presence(agent_id=agent_id, presence=Presence.OFFLINE, actor=IDLE_TIMEOUT)
        changed += 1
    return changed


def _minutes(span) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"

