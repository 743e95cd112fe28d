"""Who may receive an item, and why not (DESIGN.md, "Allocation semantics"): the rule,
stated once.

An agent may receive an item of queue Q that has reached routing step s now iff
1–2. some step of Q up to s admits it: its team is one the step takes and it holds every
   skill the step requires at or above that skill's minimum (step 1 is Q's own serving
   teams and required skills; what later steps admit is allocation/routing.py's);
3. it is available (its presence);
4. it holds fewer active items — assigned or in progress; pended ones do not count —
   than its capacity;
5. it is not cooling off from that item: it released or rejected it, and the cool-off
   has not ended (a CoolOff whose `until` is after now).
get-next also asks that Q be active and in pull mode: push queues' items are handed out
by the push job, and an inactive queue's by nobody.

Where an item stands is a `Reach`: its queue and the step it reached. 1–2 qualify an agent
for a reach (`queues_eligible_for`, `agents_skilled_for_queue`, `holder_unqualified`), 3–4
say whether it may take work now (`agent_not_ready`, `has_room`, `active_item_count`), 5
is per item (`cool_offs_in_force`). `agents_unfit_for` gives every reason in words, and
`receiver_chosen` picks the agent a job moves an item to and explains the choice to the
item's events.

get-next states the same rule in SQL (services/next_work.py), since the hot path is one
statement; tests/allocation/test_eligibility.py holds the SQL and this module to the same
answers on randomized organisations with routing steps.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from allocation import routing
from allocation.models import (
    ACTIVE_STATUSES,
    FIRST_STEP,
    AdmissionTeam,
    AgentProfile,
    AllocationMode,
    CoolOff,
    Presence,
    Queue,
    WorkItem,
)

# How many agents an explanation names: of those eligible, and of the others.
CANDIDATES_SHOWN = 5


class Reach(NamedTuple):
    """Where an item stands, as far as who may receive it goes: its queue and the routing
    step it has reached (a queue alone: its step 1, the queue's own rule)."""

    queue: Queue
    step: int = FIRST_STEP

    @property
    def key(self) -> tuple[int, int]:
        return self.queue.pk, self.step


def reach_of(item: WorkItem) -> Reach:
    return Reach(item.queue, item.routing_step)


# Team and skills (1–2) --------------------------------------------------------------------

def queues_eligible_for(*, agent_id: int, team_id: int | None, pull_only: bool = True,
                        reached: int = FIRST_STEP) -> QuerySet[Queue]:
    """Active queues some step up to `reached` of which admits the agent (1–2) — by default
    the queues' own rule —, and only those in pull mode unless `pull_only` is off."""
    if team_id is None:
        return Queue.objects.none()
    queues = Queue.objects.filter(
        routing.admitted(agent=agent_id, team=team_id, queue=OuterRef("pk"), reached=reached), is_active=True
    )
    if pull_only:
        queues = queues.filter(allocation_mode=AllocationMode.PULL)
    return queues


def agents_skilled_for_queue(queue: Queue | None = None, *, reached: int = FIRST_STEP) -> QuerySet[AgentProfile]:
    """Agents some step of `queue` up to `reached` admits (1–2), whatever their presence and
    load (capacity planning counts them). Without a queue, a subquery about the queue of an
    outer query (its OuterRef("pk")): one query counts them for every queue."""
    queue_ref = queue.pk if queue is not None else OuterRef(OuterRef("pk"))
    return AgentProfile.objects.filter(
        routing.admitted(agent=OuterRef("pk"), team=OuterRef("team_id"), queue=queue_ref, reached=reached)
    )


def holder_unqualified() -> Q:
    """Work items (a filter) whose holder no step they reached admits any more: its team is
    not taken, or it lacks a required skill at its minimum."""
    return ~routing.admitted(agent=OuterRef("assignee_id"), team=OuterRef("assignee__agent_profile__team_id"),
                             queue=OuterRef("queue_id"), reached=OuterRef("routing_step"))


# Presence and capacity (3–4) ------------------------------------------------------------------

def _active_items() -> QuerySet[WorkItem]:
    return WorkItem.objects.filter(status__in=ACTIVE_STATUSES)


def active_item_count(agent_id: int) -> int:
    """The items the agent holds that count against its capacity."""
    return _active_items().filter(assignee_id=agent_id).count()


def active_item_counts(agent_ids: Iterable[int]) -> dict[int, int]:
    """`active_item_count` of many agents in one query (an agent holding none is left out)."""
    return dict(
        _active_items().filter(assignee_id__in=list(agent_ids)).order_by()
        .values("assignee_id").annotate(n=Count("*")).values_list("assignee_id", "n")
    )


def active_items_held() -> Coalesce:
    """`active_item_count` as an annotation of an AgentProfile queryset."""
    held = _active_items().filter(assignee_id=OuterRef("pk")).order_by().values("assignee_id").annotate(
        n=Count("*")
    ).values("n")
    return Coalesce(Subquery(held), 0)


def has_room(*, held: int, capacity: int) -> bool:
    """Whether an agent holding `held` active items may take one more."""
    return held < capacity


# Cool-offs (5) ------------------------------------------------------------------------------

def cooling_off(now: datetime) -> Q:
    """Cool-offs (a CoolOff filter) still in force at `now`."""
    return Q(until__gt=now)


def cool_offs_in_force(item_ids: Iterable[int], *, now: datetime) -> dict[int, dict[int, CoolOff]]:
    """For each of the items, the agents it is held back from at `now`, by agent id, each
    with the latest of its cool-offs from the item."""
    found: dict[int, dict[int, CoolOff]] = {}
    for cool_off in CoolOff.objects.filter(cooling_off(now), item_id__in=list(item_ids)).order_by("until", "pk"):
        found.setdefault(cool_off.item_id, {})[cool_off.agent_id] = cool_off
    return found


# Why not, in words ----------------------------------------------------------------------------

class Unfit(NamedTuple):
    """One reason an agent may not receive a queue's items (or one item) now: `label` for a
    list of agents ("offline", "at capacity 5/5"), `sentence` naming the agent, for a refusal."""

    kind: str
    label: str
    sentence: str


UNFIT_TEAM, UNFIT_SKILL, UNFIT_PRESENCE, UNFIT_CAPACITY, UNFIT_COOL_OFF = (
    "team", "skill", "presence", "capacity", "cool_off"
)


def agent_not_ready(agent: AgentProfile, *, held: int) -> list[Unfit]:
    """Why the agent, holding `held` active items, may take no work now (3–4); empty when it may."""
    reasons = []
    if agent.presence != Presence.AVAILABLE:
        presence = agent.get_presence_display().lower()
        reasons.append(Unfit(UNFIT_PRESENCE, presence, f"{agent} is {presence}."))
    if not has_room(held=held, capacity=agent.capacity):
        reasons.append(Unfit(UNFIT_CAPACITY, f"at capacity {held}/{agent.capacity}",
                             f"{agent} already holds {held} of {agent.capacity} items."))
    return reasons


def cool_off_unfit(agent: AgentProfile, cool_off: CoolOff) -> Unfit:
    """Why the agent may not receive the item it handed back (5)."""
    return Unfit(UNFIT_COOL_OFF, f"{cool_off.kind} this item",
                 f"{agent} {cool_off.kind} this item ({cool_off.reason}).")


def agents_unfit_for(
    agents: Sequence[AgentProfile], reaches: Sequence[Reach]
) -> dict[tuple[int, int, int], list[Unfit]]:
    """For each (agent id, queue id, step), why the agent may not receive the items that
    reached that step of that queue now (1–4); an empty list when it may. A fixed number of
    queries however many agents and reaches, so a page can list every candidate with its
    reasons. Team and skill reasons are said against the widest step reached."""
    reaches = [Reach(*reach) for reach in dict.fromkeys(reaches)]
    agent_ids = [agent.pk for agent in agents]
    if not agent_ids or not reaches:
        return {(agent.pk, *reach.key): [] for agent in agents for reach in reaches}
    rules = routing.admissions({reach.queue.pk: reach.queue for reach in reaches}.values())
    levels = routing.skill_levels(agent_ids)
    held = active_item_counts(agent_ids)
    unfit = {}
    for agent in agents:
        not_ready = agent_not_ready(agent, held=held.get(agent.pk, 0))
        skills = levels.get(agent.pk, {})
        for reach in reaches:
            steps = [step for step in rules[reach.queue.pk] if step.position <= reach.step]
            reasons = []
            if routing.first_admitting(steps, reached=reach.step, team_id=agent.team_id, levels=skills) is None:
                widest = steps[-1]
                at = f" at step {widest.position}" if widest.position > FIRST_STEP else ""
                if agent.team_id not in widest.teams:
                    reasons.append(Unfit(UNFIT_TEAM, f"not in a team serving {reach.queue.name}{at}",
                                         f"{agent} is not in a team serving {reach.queue.name}{at}."))
                reasons.extend(
                    Unfit(UNFIT_SKILL, f"lacks {need.skill_name} at level {need.min_proficiency}",
                          f"{agent} lacks {need.skill_name} at level {need.min_proficiency}.")
                    for need in widest.unmet(skills)
                )
            unfit[(agent.pk, *reach.key)] = reasons + not_ready
    return unfit


def agent_ineligibility_reasons(*, agent: AgentProfile, reach: Reach) -> list[str]:
    """Why `agent` may not receive an item standing at `reach` now; empty when it may."""
    return [reason.sentence for reason in agents_unfit_for([agent], [reach])[(agent.pk, *reach.key)]]


def agents_by_eligibility(
    agents: Sequence[AgentProfile], reaches: Sequence[Reach]
) -> tuple[list[AgentProfile], list[tuple[AgentProfile, list[str]]]]:
    """`agents` split by whether they may receive items at every one of `reaches` now:
    those who may, and the others each with why not (labels, each said once)."""
    unfit = agents_unfit_for(agents, reaches)
    eligible, others = [], []
    for agent in agents:
        labels = list(dict.fromkeys(reason.label for reach in reaches for reason in unfit[(agent.pk, *reach.key)]))
        if labels:
            others.append((agent, labels))
        else:
            eligible.append(agent)
    return eligible, others


# Who may receive a queue's items now -------------------------------------------------------------

def agents_eligible_for_queue(
    queue: Queue, *, reached: int = FIRST_STEP, exclude_agent_id: int | None = None
) -> QuerySet[AgentProfile]:
    """Agents who may receive an item of `queue` that reached step `reached` now (1–4),
    least recently assigned first, each with `held`, its active items: the transfer targets
    a page offers, and whom the jobs move items to. The queryset form of `agents_unfit_for`."""
    agents = (
        agents_skilled_for_queue(queue, reached=reached).filter(presence=Presence.AVAILABLE)
        .annotate(held=active_items_held())
        .filter(held__lt=F("capacity"))
        .select_related("user", "team")
        .order_by(F("last_assigned_at").asc(nulls_first=True), "pk")
    )
    return agents.exclude(pk=exclude_agent_id) if exclude_agent_id is not None else agents


def agents_not_eligible_for_queue(
    queue: Queue, *, reached: int = FIRST_STEP, limit: int = CANDIDATES_SHOWN + 1
) -> list[tuple[AgentProfile, list[Unfit]]]:
    """The first `limit` agents (by id) of the teams the steps of `queue` up to `reached`
    take who may not receive its items now, each with why not. By default one more than an
    explanation shows: it leaves out the item's holder."""
    teams = AdmissionTeam.objects.filter(queue_id=queue.pk, position__lte=reached).values("team_id")
    others = list(
        AgentProfile.objects.filter(team_id__in=teams)
        .exclude(pk__in=agents_eligible_for_queue(queue, reached=reached).values("pk"))
        .select_related("user").order_by("pk")[:limit]
    )
    reach = Reach(queue, reached)
    unfit = agents_unfit_for(others, [reach])
    return [(agent, unfit[(agent.pk, *reach.key)]) for agent in others]


# Explaining a move to an agent ------------------------------------------------------------------

def receiver_chosen(
    eligible: Sequence[AgentProfile], *, room: Callable[[AgentProfile], int],
    not_eligible: Iterable[tuple[AgentProfile, Sequence[Unfit]]], cool_offs: Mapping[int, CoolOff],
    exclude: Collection[int] = (),
) -> tuple[AgentProfile | None, list[dict]]:
    """Who receives an item a job moves, and the candidates its event records
    (data["candidates"]: {"agent": username, "chosen": bool, "why": str} each).

    `eligible` are the agents who may receive the item's queue's items, least recently
    assigned first; of them, those in `exclude` (the holder) are not considered and those
    cooling off from the item (`cool_offs`, by agent id) may not receive it. The receiver
    is the first of the others with `room` (what a batch has already given them counts).
    Listed are the first CANDIDATES_SHOWN considered (and the receiver, if later), each
    with why it lost, then the first CANDIDATES_SHOWN by id of the serving teams' agents
    who may not receive the item — `not_eligible`, as agents_not_eligible_for_queue reads
    them, and those cooling off — each with every reason. `eligible` holds at least the
    first CANDIDATES_SHOWN considered, and every one cooling off."""
    considered, winner = [], None
    for agent in eligible:
        if agent.pk in exclude or agent.pk in cool_offs:
            continue
        with_room = room(agent) > 0
        if winner is None and with_room:
            winner, why = agent, "eligible, least recently assigned"
        elif len(considered) < CANDIDATES_SHOWN:
            why = f"eligible, but assigned more recently than {winner}" if with_room else "eligible, but no room left"
        elif winner is not None:
            break
        else:
            continue
        considered.append({"agent": agent.user.get_username(), "chosen": agent is winner, "why": why})
    reasons = {agent.pk: (agent, list(why)) for agent, why in not_eligible}
    for agent in eligible:
        if agent.pk in cool_offs:
            reasons.setdefault(agent.pk, (agent, []))
    for agent_id, cool_off in cool_offs.items():
        if agent_id in reasons:
            agent, why = reasons[agent_id]
            why.append(cool_off_unfit(agent, cool_off))
    lost = [reasons[pk] for pk in sorted(reasons) if pk not in exclude and reasons[pk][1]][:CANDIDATES_SHOWN]
    considered.extend(
        {"agent": agent.user.get_username(), "chosen": False, "why": " ".join(reason.sentence for reason in why)}
        for agent, why in lost
    )
    return winner, considered


def receiver_refused(candidates: list[dict], agent: AgentProfile, reasons: Sequence[Unfit]) -> list[dict]:
    """The candidates of `receiver_chosen` once the receiver turned out, under the locks,
    no longer to be eligible (`reasons`): nobody chosen, and it with why."""
    return [{**candidate, "chosen": False} for candidate in candidates] + [
        {"agent": agent.user.get_username(), "chosen": False, "why": " ".join(reason.sentence for reason in reasons)}
    ]
