"""Reads for pages, the API and services. Each returns what its caller shows in a
bounded number of queries."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from allocation.models import (
    ACTIVE_STATUSES,
    AgentProfile,
    AgentSkill,
    AllocationMode,
    Presence,
    Queue,
    QueueSkill,
    WorkItem,
    WorkItemEvent,
)

SEE_ALL_ITEMS_PERMISSION = "allocation.view_workitem"


def agent_profile_for(user: AbstractBaseUser) -> AgentProfile | None:
    if not user.is_authenticated:
        return None
    try:
        return user.agent_profile
    except AgentProfile.DoesNotExist:
        return None


def queues_with_unmet_skills(agent_id: int) -> QuerySet[QueueSkill]:
    """Skill requirements (one row each, by queue) that `agent_id` does not meet."""
    meets = AgentSkill.objects.filter(
        agent_id=agent_id, skill_id=OuterRef("skill_id"), proficiency__gte=OuterRef("min_proficiency")
    )
    return QueueSkill.objects.filter(~Exists(meets))


def queues_eligible_for(*, agent_id: int, team_id: int | None, pull_only: bool = True) -> QuerySet[Queue]:
    """Active queues the agent may receive items of by team and skills (presence and
    capacity are the caller's concern: they change by the minute).

    get-next encodes the same rule in SQL (services/next_work.py) to stay one statement;
    tests/allocation/test_next_work.py::test_sql_eligibility_agrees_with_the_selector keeps
    the two equal."""
    if team_id is None:
        return Queue.objects.none()
    unmet = queues_with_unmet_skills(agent_id).filter(queue_id=OuterRef("pk"))
    queues = Queue.objects.filter(is_active=True, teams__id=team_id).exclude(Exists(unmet))
    if pull_only:
        queues = queues.filter(allocation_mode=AllocationMode.PULL)
    return queues


def agent_active_item_count(agent_id: int) -> int:
    return WorkItem.objects.filter(assignee_id=agent_id, status__in=ACTIVE_STATUSES).count()


def agent_ineligibility_reasons(*, agent: AgentProfile, queue: Queue) -> list[str]:
    """Why `agent` may not receive an item of `queue` now; empty when it may."""
    reasons = []
    if agent.team_id is None or not queue.teams.filter(pk=agent.team_id).exists():
        reasons.append(f"{agent} is not in a team serving {queue.name}.")
    missing = queues_with_unmet_skills(agent.pk).filter(queue=queue).select_related("skill")
    reasons.extend(
        f"{agent} lacks {requirement.skill.name} at level {requirement.min_proficiency}."
        for requirement in missing
    )
    if agent.presence != Presence.AVAILABLE:
        reasons.append(f"{agent} is {agent.get_presence_display().lower()}.")
    held = agent_active_item_count(agent.pk)
    if held >= agent.capacity:
        reasons.append(f"{agent} already holds {held} of {agent.capacity} items.")
    return reasons


def items_visible_to(user: AbstractBaseUser) -> QuerySet[WorkItem]:
    """Supervisors, admins and source systems see every item; an agent sees the items it
    holds and the ones it completed."""
    items = WorkItem.objects.select_related("queue", "assignee", "completed_by")
    if user.has_perm(SEE_ALL_ITEMS_PERMISSION):
        return items
    return items.filter(Q(assignee=user) | Q(completed_by=user))


def item_with_events(*, user: AbstractBaseUser, item_id: int) -> WorkItem | None:
    events = WorkItemEvent.objects.select_related("actor").order_by("at", "id")
    return (
        items_visible_to(user).prefetch_related(Prefetch("events", queryset=events)).filter(pk=item_id).first()
    )


def customer_items(*, user: AbstractBaseUser, customer_ref: str) -> QuerySet[WorkItem]:
    return items_visible_to(user).filter(customer_ref=customer_ref).order_by("received_at", "id")
