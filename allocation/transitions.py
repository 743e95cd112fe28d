"""Who may do what to a work item, from which state: the one table of the lifecycle.

The services enforce it (each raises a domain error for a move outside it) and the pages
read it to offer only the actions that would be accepted, so the two cannot drift.
See DESIGN.md, "Work item lifecycle".
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from allocation.models import (
    ACTIVE_STATUSES,
    HELD_STATUSES,
    OPEN_STATUSES,
    AgentProfile,
    AllocationMode,
    ItemStatus,
    Queue,
    WorkItem,
)
from core import roles
from core.actors import Actor, SystemActor

CANCEL_PERMISSION = "allocation.cancel_workitem"
REASSIGN_PERMISSION = "allocation.reassign_workitem"

START, PEND, COMPLETE, RELEASE, TRANSFER, CANCEL = "start", "pend", "complete", "release", "transfer", "cancel"
REPRIORITIZE, REJECT, RESUME = "priority", "reject", "resume"
ACTIONS = (START, RESUME, PEND, COMPLETE, RELEASE, REJECT, TRANSFER, REPRIORITIZE, CANCEL)

# The statuses each action accepts when the item's holder (or a system job) acts.
HOLDER_MAY: dict[str, tuple[str, ...]] = {
    START: (ItemStatus.ASSIGNED,),
    PEND: (ItemStatus.IN_PROGRESS,),
    RESUME: (ItemStatus.PENDED,),  # before its follow-up time: the customer replied
    COMPLETE: (ItemStatus.IN_PROGRESS,),
    RELEASE: ACTIVE_STATUSES,
    REJECT: (ItemStatus.ASSIGNED,),  # and only items of push-mode queues: see applies_to
    TRANSFER: HELD_STATUSES,
}

# The status each of those actions leaves the item in (a transfer's depends on its target).
HOLDER_LEADS_TO: dict[str, str] = {
    START: ItemStatus.IN_PROGRESS,
    PEND: ItemStatus.PENDED,
    RESUME: ItemStatus.IN_PROGRESS,
    COMPLETE: ItemStatus.COMPLETED,
    RELEASE: ItemStatus.QUEUED,
    REJECT: ItemStatus.QUEUED,
}

# Actions open to anyone holding a permission, and the statuses they accept then.
PERMITTED: dict[str, tuple[str, tuple[str, ...]]] = {
    TRANSFER: (REASSIGN_PERMISSION, OPEN_STATUSES),
    REPRIORITIZE: (REASSIGN_PERMISSION, OPEN_STATUSES),
    CANCEL: (CANCEL_PERMISSION, OPEN_STATUSES),
}


def is_holder(item: WorkItem, actor: Actor) -> bool:
    return isinstance(actor, SystemActor) or item.assignee_id == actor.pk


def has_permission(actor: Actor, action: str) -> bool:
    if action not in PERMITTED:
        return False
    return isinstance(actor, SystemActor) or actor.has_perm(PERMITTED[action][0])


def statuses_allowing(action: str, *, as_holder: bool, permitted: bool) -> tuple[str, ...]:
    """Every status from which `action` is accepted for an actor in that position."""
    statuses = set(HOLDER_MAY.get(action, ())) if as_holder else set()
    if permitted:
        statuses.update(PERMITTED[action][1])
    return tuple(status for status in ItemStatus.values if status in statuses)


def queues_in_reach(actor: Actor) -> QuerySet[Queue] | None:
    """The queues whose items a supervisor sees and moves: the queues served by a team it
    supervises. None (every queue) for admins and system jobs; none for anyone else, whose
    reach is not by queue (items_in_reach)."""
    if isinstance(actor, SystemActor) or roles.is_admin(actor):
        return None
    if not roles.is_supervisor(actor):
        return Queue.objects.none()
    return Queue.objects.filter(teams__supervisors=actor)


# The reach of an actor whose permitted actions reach no item (agents): the same object
# every time, so a caller can tell it apart without a statement (reaches).
NO_ITEMS = Q(pk__in=[])


def items_in_reach(actor: Actor) -> Q | None:
    """The one reach rule: the items a permitted action (transfer, reprioritize, cancel)
    reaches and that the actor sees beyond what it holds. None means every item (admins,
    system jobs). A supervisor reaches the queues its teams serve, and the items its teams'
    agents hold (a routing step may give them another queue's work: allocation/routing.py);
    a source system the items of the sources it is bound to (another source's items do not
    exist for it); anyone else, none (NO_ITEMS)."""
    if isinstance(actor, SystemActor) or roles.is_admin(actor):
        return None
    scope = NO_ITEMS
    if roles.is_supervisor(actor):
        # Subqueries, not joins: a queue served by two of its teams must not repeat its items.
        scope |= Q(queue__in=queues_in_reach(actor).values("pk"))
        scope |= Q(assignee_id__in=AgentProfile.objects.filter(team__supervisors=actor).values("pk"))
    if roles.is_source_system(actor):
        scope |= Q(source__in=roles.sources_of(actor))
    return scope


def sources_allowed(actor: Actor) -> frozenset[str] | None:
    """The sources under which `actor` may take items in: a source system, the sources it is
    bound to; anyone else permitted to create items (admins, system jobs), any (None)."""
    if isinstance(actor, SystemActor) or roles.is_admin(actor) or not roles.is_source_system(actor):
        return None
    return roles.sources_of(actor)


def reaches(actor: Actor, item: WorkItem) -> bool:
    """Whether `actor`'s permitted actions reach `item` (items_in_reach for one item)."""
    scope = items_in_reach(actor)
    if scope is NO_ITEMS:  # no reach beyond what it holds: nothing to ask the database
        return False
    return scope is None or WorkItem.objects.filter(scope, pk=item.pk).exists()


def may_act_as_permitted(actor: Actor, action: str, item: WorkItem) -> bool:
    """Holding the action's permission, over an item within reach."""
    return has_permission(actor, action) and reaches(actor, item)


def applies_to(action: str, item: WorkItem) -> bool:
    """Beyond status: an agent may reject only an item that was pushed to it (push-mode queue)."""
    return action != REJECT or item.queue.allocation_mode == AllocationMode.PUSH


def actions_allowed(item: WorkItem, actor: Actor) -> list[str]:
    """The actions `actor` may take on `item` now, in display order."""
    holder = is_holder(item, actor)
    in_reach = reaches(actor, item)  # one look-up for every action, not one per action
    return [
        action
        for action in ACTIONS
        if item.status in statuses_allowing(action, as_holder=holder,
                                            permitted=has_permission(actor, action) and in_reach)
        and applies_to(action, item)
    ]
