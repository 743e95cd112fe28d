"""Who may receive an item, and why not (DESIGN.md, "Allocation semantics"): the rule,
stated once.

An agent may receive an item of queue Q now iff
1. its team serves Q;
2. it holds every skill Q requires at or above that skill's minimum proficiency;
3. it is available (its presence);
4. it holds fewer active items — assigned or in progress; pended ones do not count —
   than its capacity;
5. it is not cooling off from that item: it released or rejected it, and the cool-off
   has not ended (a CoolOff whose `until` is after now).
get-next also asks that Q be active and in pull mode: push queues' items are handed out
by the push job, and an inactive queue's by nobody.

1–2 qualify an agent for a queue (`queues_eligible_for`, `agents_skilled_for_queue`,
`holder_unqualified`), 3–4 say whether it may take work now (`agent_not_ready`,
`has_room`, `active_item_count`), 5 is per item (`cool_offs_in_force`). `agents_unfit_for`
gives every reason in words, and `receiver_chosen` picks the agent a job moves an item to
and explains the choice to the item's events.

get-next states the same rule in SQL (services/next_work.py), since the hot path is one
statement; tests/allocation/test_eligibility.py holds the SQL and this module to the same
answers on randomized organisations.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from allocation.models import (
    ACTIVE_STATUSES,
    AgentProfile,
    AgentSkill,
    AllocationMode,
    CoolOff,
    Presence,
    Queue,
    QueueSkill,
    WorkItem,
)

# How many agents an explanation names: of those eligible, and of the others.
CANDIDATES_SHOWN = 5


# Team and skills (1–2) --------------------------------------------------------------------

def _requirements_unmet(*, agent: int | OuterRef, queue: int | OuterRef) -> QuerySet[QueueSkill]:
    """The requirements of `queue` that `agent` does not meet (the skill missing, or below
    its minimum). Either is an id or an OuterRef as seen from this queryset."""
    holder = OuterRef(agent) if isinstance(agent, OuterRef) else agent
    meets = AgentSkill.objects.filter(
        agent_id=holder, skill_id=OuterRef("skill_id"), proficiency__gte=OuterRef("min_proficiency")
    )
    return QueueSkill.objects.filter(queue_id=queue).filter(~Exists(meets))


def queues_eligible_for(*, agent_id: int, team_id: int | None, pull_only: bool = True) -> QuerySet[Queue]:
    """Active queues the agent qualifies for (1–2), and only those in pull mode unless
    `pull_only` is off: the queues get-next serves it from, while it may take work."""
    if team_id is None:
        return Queue.objects.none()
    queues = Queue.objects.filter(is_active=True, teams__id=team_id).exclude(
        Exists(_requirements_unmet(agent=agent_id, queue=OuterRef("pk")))
    )
    if pull_only:
        queues = queues.filter(allocation_mode=AllocationMode.PULL)
    return queues


def agents_skilled_for_queue(queue: Queue | None = None) -> QuerySet[AgentProfile]:
    """Agents qualified for `queue` (1–2) whatever their presence and load (capacity
    planning counts them). Without a queue, a subquery about the queue of an outer query
    (its OuterRef("pk")): one query counts them for every queue."""
    queue_ref = queue.pk if queue is not None else OuterRef(OuterRef("pk"))
    return AgentProfile.objects.filter(team__queues=queue if queue is not None else OuterRef("pk")).exclude(
        Exists(_requirements_unmet(agent=OuterRef("pk"), queue=queue_ref))
    )


def holder_unqualified() -> Q:
    """Work items (a filter) whose holder no longer qualifies for their queue: its team
    does not serve it, or it lacks a required skill at its minimum."""
    serves = Queue.teams.through.objects.filter(
        queue_id=OuterRef("queue_id"), team_id=OuterRef("assignee__agent_profile__team_id")
    )
    return ~Exists(serves) | Exists(_requirements_unmet(agent=OuterRef("assignee_id"), queue=OuterRef("queue_id")))


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


def agents_unfit_for(agents: Sequence[AgentProfile], queues: Sequence[Queue]) -> dict[tuple[int, int], list[Unfit]]:
    """For each (agent id, queue id), why the agent may not receive the queue's items now
    (1–4); an empty list when it may. A fixed number of queries however many agents and
    queues, so a page can list every candidate with its reasons."""
    agent_ids, queue_ids = [agent.pk for agent in agents], [queue.pk for queue in queues]
    if not agent_ids or not queue_ids:
        return {(agent.pk, queue.pk): [] for agent in agents for queue in queues}
    serving = set(Queue.teams.through.objects.filter(queue_id__in=queue_ids).values_list("queue_id", "team_id"))
    required = list(QueueSkill.objects.filter(queue_id__in=queue_ids).select_related("skill").order_by("pk"))
    levels = {
        (agent_id, skill_id): proficiency for agent_id, skill_id, proficiency in AgentSkill.objects.filter(
            agent_id__in=agent_ids, skill_id__in={requirement.skill_id for requirement in required}
        ).values_list("agent_id", "skill_id", "proficiency")
    } if required else {}
    held = active_item_counts(agent_ids)
    unfit = {}
    for agent in agents:
        not_ready = agent_not_ready(agent, held=held.get(agent.pk, 0))
        for queue in queues:
            reasons = []
            if (queue.pk, agent.team_id) not in serving:
                reasons.append(Unfit(UNFIT_TEAM, f"not in a team serving {queue.name}",
                                     f"{agent} is not in a team serving {queue.name}."))
            reasons.extend(
                Unfit(UNFIT_SKILL, f"lacks {need.skill.name} at level {need.min_proficiency}",
                      f"{agent} lacks {need.skill.name} at level {need.min_proficiency}.")
                for need in required
                if need.queue_id == queue.pk and levels.get((agent.pk, need.skill_id), 0) < need.min_proficiency
            )
            unfit[(agent.pk, queue.pk)] = reasons + not_ready
    return unfit


def agent_ineligibility_reasons(*, agent: AgentProfile, queue: Queue) -> list[str]:
    """Why `agent` may not receive an item of `queue` now; empty when it may."""
    return [reason.sentence for reason in agents_unfit_for([agent], [queue])[(agent.pk, queue.pk)]]


def agents_by_eligibility(
    agents: Sequence[AgentProfile], queues: Sequence[Queue]
) -> tuple[list[AgentProfile], list[tuple[AgentProfile, list[str]]]]:
    """`agents` split by whether they may receive the items of every one of `queues` now:
    those who may, and the others each with why not (labels, each said once)."""
    unfit = agents_unfit_for(agents, queues)
    eligible, others = [], []
    for agent in agents:
        labels = list(dict.fromkeys(reason.label for queue in queues for reason in unfit[(agent.pk, queue.pk)]))
        if labels:
            others.append((agent, labels))
        else:
            eligible.append(agent)
    return eligible, others


# Who may receive a queue's items now -------------------------------------------------------------

def agents_eligible_for_queue(queue: Queue, *, exclude_agent_id: int | None = None) -> QuerySet[AgentProfile]:
    """Agents who may receive an item of `queue` now (1–4), least recently assigned first,
    each with `held`, its active items: the transfer targets a page offers, and whom the
    jobs move items to. The queryset form of `agents_unfit_for`."""
    agents = (
        agents_skilled_for_queue(queue).filter(presence=Presence.AVAILABLE)
        .annotate(held=active_items_held())
        .filter(held__lt=F("capacity"))
        .select_related("user", "team")
        .order_by(F("last_assigned_at").asc(nulls_first=True), "pk")
    )
    return agents.exclude(pk=exclude_agent_id) if exclude_agent_id is not None else agents


def agents_not_eligible_for_queue(
    queue: Queue, *, limit: int = CANDIDATES_SHOWN + 1
) -> list[tuple[AgentProfile, list[Unfit]]]:
    """The first `limit` agents (by id) of the teams serving `queue` who may not receive
    its items now, each with why not. By default one more than an explanation shows: it
    leaves out the item's holder."""
    others = list(
        AgentProfile.objects.filter(team__queues=queue)
        .exclude(pk__in=agents_eligible_for_queue(queue).values("pk"))
        .select_related("user").order_by("pk")[:limit]
    )
    unfit = agents_unfit_for(others, [queue])
    return [(agent, unfit[(agent.pk, queue.pk)]) for agent in others]


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
