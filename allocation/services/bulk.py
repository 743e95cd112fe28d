"""Supervisor bulk reassign: move many items to one agent or one queue, previewing first.

The preview and the apply run the same checks (`_verdicts`), so what the preview promises
is what apply does, unless the items or the agent changed in between — and then apply
refuses the item with the reason, as the single-item transfer would.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Q

from allocation import eligibility, transitions
from allocation.models import OPEN_STATUSES, AgentProfile, ItemStatus, Queue, WorkItem
from allocation.services.lifecycle import item_transfer
from core.actors import Actor, SystemActor
from core.exceptions import DomainError, InvalidInput, PermissionDenied


@dataclass(frozen=True)
class Verdict:
    item_id: int
    title: str
    moves: bool
    reasons: tuple[str, ...] = ()


@dataclass
class BulkResult:
    verdicts: list[Verdict] = field(default_factory=list)
    target: str = ""  # where the items go, as a person reads it

    @property
    def moving(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.moves]

    @property
    def refused(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.moves]


def items_reassignable_by(actor: Actor) -> Q:
    """The items an actor may reassign: the reach of its permitted actions, and nothing
    without the reassign permission."""
    if not transitions.has_permission(actor, transitions.TRANSFER):
        return Q(pk__in=[])
    reach = transitions.items_in_reach(actor)
    return Q() if reach is None else reach


def _target(to_agent_id: int | None, to_queue_id: int | None) -> tuple[AgentProfile | None, Queue | None]:
    if (to_agent_id is None) == (to_queue_id is None):
        raise InvalidInput("Choose either an agent or a queue to move the items to.",
                           fields={"target": ["Choose exactly one agent or queue."]})
    if to_agent_id is not None:
        agent = AgentProfile.objects.select_related("user", "team").filter(pk=to_agent_id).first()
        if agent is None:
            raise InvalidInput("That agent does not exist.", fields={"target": ["Unknown agent."]})
        return agent, None
    queue = Queue.objects.filter(pk=to_queue_id, is_active=True).first()
    if queue is None:
        raise InvalidInput("That queue does not exist or is inactive.", fields={"target": ["Unknown queue."]})
    return None, queue


def _target_label(agent: AgentProfile | None, queue: Queue | None) -> str:
    if agent is not None:  # the name, and the username that tells two of one name apart
        name, username = agent.user.get_full_name(), agent.user.get_username()
        return f"{name} ({username})" if name else username
    return f"the {queue.name} queue"


def _verdicts(*, actor: Actor, item_ids: list[int], agent: AgentProfile | None, queue: Queue | None) -> BulkResult:
    if not item_ids:
        raise InvalidInput("Select at least one item.", fields={"items": ["Select at least one item."]})
    limit = settings.WFO_MAX_BULK_ITEMS
    if len(item_ids) > limit:
        raise InvalidInput(f"Move at most {limit} items at once.", fields={"items": [f"At most {limit}."]})
    if not isinstance(actor, SystemActor) and not actor.has_perm(transitions.REASSIGN_PERMISSION):
        raise PermissionDenied("Only supervisors and admins can reassign work.")
    items = list(WorkItem.objects.select_related("queue").filter(pk__in=item_ids).order_by("start_by", "id"))
    in_scope = WorkItem.objects.filter(items_reassignable_by(actor), pk__in=item_ids)
    allowed_ids = set(in_scope.values_list("pk", flat=True))
    result = BulkResult(target=_target_label(agent, queue))
    taken = eligibility.active_item_count(agent.pk) if agent else 0
    # Capacity is counted across the selection below, not per item.
    unfit = eligibility.agents_unfit_for([agent], [eligibility.reach_of(item) for item in items]) if (
        agent is not None) else {}
    found = set()
    for item in items:
        found.add(item.pk)
        reasons = []
        if item.pk not in allowed_ids:
            reasons.append("Not in a queue served by a team you supervise.")
        if item.status not in OPEN_STATUSES:
            reasons.append(f"It is {item.get_status_display().lower()}.")
        if agent is not None:
            if item.assignee_id == agent.pk:
                reasons.append(f"{agent} already holds it.")
            reasons.extend(
                reason.sentence for reason in unfit[(agent.pk, *eligibility.reach_of(item).key)]
                if reason.kind != eligibility.UNFIT_CAPACITY
            )
            if not reasons and not eligibility.has_room(held=taken, capacity=agent.capacity):
                reasons.append(f"{agent} would hold more than its capacity of {agent.capacity}.")
        elif item.status == ItemStatus.QUEUED and item.queue_id == queue.pk:
            reasons.append(f"It is already waiting in {queue.name}.")
        if not reasons and agent is not None:
            taken += 1
        result.verdicts.append(Verdict(item.pk, item.title, not reasons, tuple(reasons)))
    result.verdicts.extend(Verdict(pk, "", False, ("No such item.",)) for pk in item_ids if pk not in found)
    return result


def items_reassign_preview(
    *, actor: Actor, item_ids: list[int], to_agent_id: int | None = None, to_queue_id: int | None = None
) -> BulkResult:
    """Which of the items would move to the target, and why each other one would not."""
    agent, queue = _target(to_agent_id, to_queue_id)
    return _verdicts(actor=actor, item_ids=item_ids, agent=agent, queue=queue)


def items_reassign(
    *, actor: Actor, item_ids: list[int], to_agent_id: int | None = None, to_queue_id: int | None = None,
    reason: str = "",
) -> BulkResult:
    """Move the items the preview would move, each in its own transaction through the
    transfer service (which checks again under its locks); returns what moved and what not."""
    agent, queue = _target(to_agent_id, to_queue_id)
    planned = _verdicts(actor=actor, item_ids=item_ids, agent=agent, queue=queue)
    done = BulkResult(target=planned.target)
    for verdict in planned.verdicts:
        if not verdict.moves:
            done.verdicts.append(verdict)
            continue
        try:
            item_transfer(item_id=verdict.item_id, actor=actor, to_agent_id=to_agent_id, to_queue_id=to_queue_id,
                          reason=reason or "Bulk reassign")
        except DomainError as refused:
            done.verdicts.append(Verdict(verdict.item_id, verdict.title, False, (refused.message,)))
        else:
            done.verdicts.append(verdict)
    return done
