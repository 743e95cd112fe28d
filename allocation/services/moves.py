"""Moving held and waiting items between agents and queues for the periodic jobs
(reservations.py, rebalancing.py, push.py) — the one place that locks, re-checks, moves and explains.

Every move is a short transaction: lock the agents involved (by id), then the item(s)
with SKIP LOCKED, check that the rule still applies to what is now in the row, move, and
write one event per item with the rule, the reason and — for a move to an agent — the
candidates considered and why each lost. So a run can stop between any two transactions
and lose nothing, two overlapping runs move each item once, and repeating changes nothing.

Two times, on purpose. A pass's `now`, read once when it starts (or given by a caller),
decides what its rules match — expired, due, absent past the grace period, a rejection
still in force — so one pass judges every item alike. A move is *dated* by `moved_at(now)`,
read once the item's row lock is held: its event, the item's assigned_at and updated_at,
the receiver's last_assigned_at and the end of an SLA pause. A pass can run for seconds
while agents act on its items; an event one of them wrote after the pass began was
committed before the move got the lock, so the move is dated after it and the event log's
order by time stays its order of writing (as item_pend does, lifecycle.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from allocation import eligibility
from allocation.lock_objects import agents_lock
from allocation.models import (
    ACTIVE_STATUSES,
    AgentProfile,
    CoolOff,
    ItemStatus,
    Presence,
    WorkItem,
    WorkItemEvent,
)
from allocation.services import sla_clock
from core.actors import SystemActor

# A job's move is written by one of the vocabulary's constructors (allocation/events.py):
# events.rebalanced, reservation_expired, follow_up_due, or assigned (push).
MoveEvent = Callable[..., WorkItemEvent]


# How many items a job moves in one transaction (a batch), or one by one in a pass.
BATCH = 200


@dataclass
class MoveCount:
    to_queue: int = 0
    to_agent: int = 0
    skipped: int = 0  # locked by an overlapping run, or no longer matching the rule

    def add(self, outcome: str | None) -> None:
        if outcome == "queue":
            self.to_queue += 1
        elif outcome == "agent":
            self.to_agent += 1
        else:
            self.skipped += 1

    @property
    def moved(self) -> int:
        return self.to_queue + self.to_agent


def moved_at(now: datetime) -> datetime:
    """When a move happens: the clock, read with the item's row lock held — never before
    the pass's `now` (a caller may run a pass as of a time ahead of the clock)."""
    return max(now, timezone.now())


# Choosing a receiving agent ----------------------------------------------------------------

def candidates(item: WorkItem, *, now: datetime, exclude: set[int]) -> tuple[AgentProfile | None, list[dict]]:
    """The agent an item should go to (eligible now, least recently assigned first) and the
    candidates its event records (eligibility.receiver_chosen)."""
    cool_offs = eligibility.cool_offs_in_force([item.pk], now=now).get(item.pk, {})
    eligible = eligibility.agents_eligible_for_queue(item.queue, reached=item.routing_step)
    ranked = list(eligible.exclude(pk__in=exclude | set(cool_offs))[:eligibility.CANDIDATES_SHOWN])
    if cool_offs:  # explained among those who may not receive it
        ranked += eligible.filter(pk__in=list(cool_offs))
    return eligibility.receiver_chosen(
        ranked, room=lambda agent: agent.capacity - agent.held,
        not_eligible=eligibility.agents_not_eligible_for_queue(item.queue, reached=item.routing_step),
        cool_offs=cool_offs, exclude=exclude,
    )


# A due follow-up ---------------------------------------------------------------------------

HOLDER, WAIT, QUEUE = "holder", "wait", "queue"


def follow_up_destination(holder: AgentProfile | None, *, waited: timedelta) -> tuple[str, str]:
    """Where a pended item whose follow-up came goes (with its agent's row locked), and why:
    back to its agent when the agent is available with room — get-next's rule too, which
    serves it first then; while the agent is available but full, it waits (the agent's next
    get-next takes it as soon as there is room) up to WFO_FOLLOW_UP_WAIT; an absent agent's,
    or one that waited that long, goes to its queue."""
    if holder is None or holder.presence != Presence.AVAILABLE:
        return QUEUE, "Its agent is not available."
    if eligibility.has_room(held=eligibility.active_item_count(holder.pk), capacity=holder.capacity):
        return HOLDER, ""
    if waited < settings.WFO_FOLLOW_UP_WAIT:
        return WAIT, ""
    return QUEUE, f"Its agent stayed at capacity for {int(settings.WFO_FOLLOW_UP_WAIT.total_seconds() // 60)} min."


# The one move ------------------------------------------------------------------------------

def move_one(
    item_id: int, *, actor: SystemActor, event: MoveEvent, rule: str, reason: str,
    still_applies: Callable[[WorkItem], bool], now: datetime, to_agent: bool, to_holder: bool = False,
) -> str | None:
    """Move one item if the rule still applies once it is locked: to its holder (a due
    follow-up), to the best eligible agent, or back to its queue (a queued item nobody can
    take stays where it is). Returns "agent", "queue", or None when nothing moved."""
    item = WorkItem.objects.select_related("queue", "assignee").filter(pk=item_id).first()
    if item is None or not still_applies(item):
        return None
    holder_id = item.assignee_id
    winner, considered = (None, [])
    if to_holder:
        winner = AgentProfile.objects.filter(pk=holder_id).first()
    elif to_agent:
        winner, considered = candidates(item, now=now, exclude={holder_id} if holder_id else set())
    with transaction.atomic():
        # Lock order: agents (by id), then the item.
        agent_ids = sorted({pk for pk in (holder_id, winner.pk if winner else None) if pk is not None})
        agents = {agent.pk: agent for agent in agents_lock(agent_ids).select_related("user")}
        locked = (
            WorkItem.objects.select_for_update(skip_locked=True, of=("self",)).select_related("queue")
            .filter(pk=item_id).first()
        )
        if locked is None or locked.assignee_id != holder_id or not still_applies(locked):
            return None
        target = agents.get(winner.pk) if winner else None
        at = moved_at(now)
        if to_holder:
            destination, why = follow_up_destination(target, waited=at - locked.pended_until)
            if destination == WAIT:
                return None
            target = target if destination == HOLDER else None
            reason = f"{reason} {why}".strip()
        if target is not None and not to_holder:
            reach = eligibility.reach_of(locked)
            refused = eligibility.agents_unfit_for([target], [reach])[(target.pk, *reach.key)]
            if refused:  # changed since it was chosen: the queue takes the item instead
                considered = eligibility.receiver_refused(considered, target, refused)
                target = None
        from_status = locked.status
        if target is None and from_status == ItemStatus.QUEUED:
            return None
        item_move(locked, to=target, at=at)
        event(locked, at=at, actor=actor, from_status=from_status, rule=rule, from_agent=holder_id,
              to_agent=target.pk if target is not None else None, candidates=considered, reason=reason).save()
    return "agent" if target is not None else "queue"


def item_move(locked: WorkItem, *, to: AgentProfile | None, at: datetime) -> None:
    """Give a locked item to a locked agent (`to`), or back to its queue (None), at `at`: a
    pended item's SLA pause ends here, in the move's transaction (the clock is locked last),
    and a job's or get-next's move is nobody's decision (no assigned_by). The caller writes
    the event."""
    if locked.status == ItemStatus.PENDED:
        sla_clock.clock_resume(item=locked, at=at)
    locked.pended_until, locked.assigned_by = None, None
    if to is not None:
        locked.status, locked.assignee, locked.assigned_at = ItemStatus.ASSIGNED, to.user, at
        to.last_assigned_at = at
        to.save(update_fields=["last_assigned_at"])
    else:
        locked.status, locked.assignee = ItemStatus.QUEUED, None
    locked.save(update_fields=["status", "assignee", "assigned_at", "assigned_by", "pended_until", "due_at",
                               "start_by", "updated_at"])


# Moving many held items at once ---------------------------------------------------------------

class Receivers:
    """Who can take items of each queue (at each routing step) during one batch: the
    eligible available agents, least recently assigned first, with their spare capacity —
    read once per (queue, step) and used round-robin, so a batch spreads work like get-next
    would."""

    def __init__(self) -> None:
        self._ranked: dict[tuple[int, int], list[AgentProfile]] = {}
        self._not_eligible: dict[tuple[int, int], list[tuple[AgentProfile, list[eligibility.Unfit]]]] = {}
        self.spare: dict[int, int] = {}

    def _load(self, reach: eligibility.Reach) -> list[AgentProfile]:
        if reach.key not in self._ranked:
            ranked = list(eligibility.agents_eligible_for_queue(reach.queue, reached=reach.step))
            for agent in ranked:
                self.spare.setdefault(agent.pk, agent.capacity - agent.held)
            self._ranked[reach.key] = ranked
            self._not_eligible[reach.key] = eligibility.agents_not_eligible_for_queue(reach.queue, reached=reach.step)
        return self._ranked[reach.key]

    def pick(self, item: WorkItem, cool_offs: Mapping[int, CoolOff]) -> tuple[AgentProfile | None, list[dict]]:
        """The receiver of `item` (not its holder, nor an agent cooling off from it) and the
        candidates its event records; the receiver goes to the back of the line."""
        reach = eligibility.reach_of(item)
        ranked = self._load(reach)
        winner, considered = eligibility.receiver_chosen(
            ranked, room=lambda agent: self.spare[agent.pk], not_eligible=self._not_eligible[reach.key],
            cool_offs=cool_offs, exclude={item.assignee_id},
        )
        if winner is not None:
            self.spare[winner.pk] -= 1
            ranked.remove(winner)
            ranked.append(winner)  # it was just assigned: the back of the line
        return winner, considered


def move_held_batch(
    item_ids: list[int], *, rule_applies: Q, actor: SystemActor, event: MoveEvent, rule: str, reason: str,
    now: datetime, to_agent: bool, receivers: Receivers,
) -> MoveCount:
    """Move a batch of assigned or in-progress items in one transaction: the receiving
    agents are locked (by id), then the items that still match the rule (SKIP LOCKED:
    an overlapping run has the others); capacities are checked again under the locks."""
    count = MoveCount()
    planned = list(WorkItem.objects.filter(pk__in=item_ids).select_related("queue", "assignee"))
    cool_offs = eligibility.cool_offs_in_force(item_ids, now=now) if to_agent else {}
    plan = {
        item.pk: receivers.pick(item, cool_offs.get(item.pk, {})) if to_agent else (None, []) for item in planned
    }
    targets = sorted({winner.pk for winner, _ in plan.values() if winner is not None})
    with transaction.atomic():
        locked_agents = {agent.pk: agent for agent in agents_lock(targets)}
        held_now = eligibility.active_item_counts(targets)
        locked = list(
            WorkItem.objects.select_for_update(skip_locked=True, of=("self",)).select_related("queue")
            .filter(rule_applies, pk__in=item_ids, status__in=ACTIVE_STATUSES).order_by("pk")
        )
        count.skipped += len(item_ids) - len(locked)
        at = moved_at(now)
        to_queue, by_agent, moved = [], {}, []
        for item in locked:
            winner, considered = plan.get(item.pk, (None, []))
            agent = locked_agents.get(winner.pk) if winner is not None else None
            refused = eligibility.agent_not_ready(agent, held=held_now.get(agent.pk, 0)) if agent is not None else []
            if refused:
                considered = eligibility.receiver_refused(considered, agent, refused)
                agent = None
            if agent is not None:
                held_now[agent.pk] = held_now.get(agent.pk, 0) + 1
                by_agent.setdefault(agent.pk, []).append(item.pk)
            else:
                to_queue.append(item.pk)
            moved.append(event(item, at=at, actor=actor, from_status=item.status, rule=rule,
                               from_agent=item.assignee_id, to_agent=agent.pk if agent is not None else None,
                               candidates=considered, reason=reason))
        if to_queue:
            WorkItem.objects.filter(pk__in=to_queue).update(status=ItemStatus.QUEUED, assignee=None, assigned_by=None,
                                                            updated_at=at)
        if by_agent:
            _assign_all({item_id: agent_id for agent_id, ids in by_agent.items() for item_id in ids}, at)
            AgentProfile.objects.filter(pk__in=list(by_agent)).update(last_assigned_at=at)
        WorkItemEvent.objects.bulk_create(moved)
    count.to_queue += len(to_queue)
    count.to_agent += sum(len(ids) for ids in by_agent.values())
    return count


def _assign_all(assignee_by_item: dict[int, int], at: datetime) -> None:
    """Give each item its receiver in one statement (a batch spreads over many agents)."""
    rows = ", ".join(["(%s::bigint, %s::integer)"] * len(assignee_by_item))
    params = [value for pair in assignee_by_item.items() for value in pair]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {WorkItem._meta.db_table} AS w SET status = %s, assignee_id = v.agent_id, assigned_at = %s,"
            f" assigned_by_id = NULL, updated_at = %s FROM (VALUES {rows}) AS v(item_id, agent_id)"
            " WHERE w.id = v.item_id",
            [ItemStatus.ASSIGNED, at, at, *params],
        )


def sweep(items: QuerySet[WorkItem], move_batch: Callable[[list[int]], MoveCount], batch_size: int) -> MoveCount:
    """Every item matching when the pass starts, one batch (one short transaction) at a
    time. The ids are read once, without ordering or limit, so the planner can use the
    partial indexes on open work rather than walk the whole table batch after batch."""
    total = MoveCount()
    ids = sorted(items.values_list("pk", flat=True))
    for start in range(0, len(ids), batch_size):
        done = move_batch(ids[start:start + batch_size])
        total.to_queue += done.to_queue
        total.to_agent += done.to_agent
        total.skipped += done.skipped
    return total
