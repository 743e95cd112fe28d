"""Agent state changes."""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from allocation import selectors
from allocation.exceptions import NotAnAgent
from allocation.lock_objects import agents_lock
from allocation.models import AgentProfile, Presence, PresenceChange, PresenceReason
from core import roles
from core.actors import Actor, actor_fields
from core.exceptions import InvalidInput, PermissionDenied
from core.services import change_record


@transaction.atomic
def agent_set_presence(
    *, agent_id: int, presence: str, actor: Actor, reason_id: int | None = None
) -> AgentProfile:
    """Set an agent's presence, with an optional reason for being away or offline (one of
    the active reasons for that presence). The history row feeds availability reports and
    supervisors' pages. Setting the presence and reason it already has changes nothing
    (safe to repeat); a new reason for the same presence is a change."""
    if presence not in Presence.values:
        raise InvalidInput(
            f"Unknown presence {presence!r}.",
            fields={"presence": [f"Choose one of: {', '.join(Presence.values)}."]},
        )
    reason = _presence_reason(presence, reason_id)
    profile = agents_lock([agent_id]).first()
    if profile is None:
        raise NotAnAgent("This user has no agent profile.")
    if profile.presence == presence and profile.presence_reason_id == (reason.pk if reason else None):
        return profile
    now = timezone.now()
    if profile.presence != presence:
        profile.presence_since = now  # a new reason for the same presence keeps its start
    profile.presence, profile.presence_reason = presence, reason
    profile.save(update_fields=["presence", "presence_reason", "presence_since"])
    PresenceChange.objects.create(agent=profile, presence=presence, reason=reason, at=now, **actor_fields(actor))
    return profile


# What a supervisor may set an agent to. Available is the agent's own doing: work would go
# to a person who may not be there.
PRESENCES_SET_BY_SUPERVISORS = (Presence.AWAY, Presence.OFFLINE)


def agent_set_presence_by_supervisor(
    *, agent_id: int, presence: str, actor, reason_id: int | None = None
) -> AgentProfile:
    """A supervisor sets an agent of its teams (an admin, any agent) away or offline, with
    an optional reason — from the live agents view. The rebalancing job then moves the
    agent's work after the grace period, as for an agent who stepped away itself."""
    in_range = 0 < agent_id < 2**63  # a bigint key: beyond it no row, and no overflow either
    profile = AgentProfile.objects.filter(pk=agent_id).only("team_id").first() if in_range else None
    if profile is None:
        raise NotAnAgent("This user has no agent profile.")
    if not (roles.is_admin(actor) or roles.is_supervisor_of(actor, team_id=profile.team_id)):
        raise PermissionDenied("You can set the presence of your own teams' agents only.")
    if presence not in PRESENCES_SET_BY_SUPERVISORS:
        message = "A supervisor can set an agent away or offline; being available is the agent's own doing."
        raise InvalidInput(message, fields={"presence": [message]})
    return agent_set_presence(agent_id=agent_id, presence=presence, actor=actor, reason_id=reason_id)


def _presence_reason(presence: str, reason_id: int | None) -> PresenceReason | None:
    if reason_id is None:
        return None
    if presence == Presence.AVAILABLE:
        raise InvalidInput("Available takes no reason.", fields={"reason": ["Available takes no reason."]})
    in_range = 0 < reason_id < 2**63  # a bigint key: beyond it no row, and no overflow either
    reason = PresenceReason.objects.filter(pk=reason_id, presence=presence, active=True).first() if in_range else None
    if reason is None:
        offered = ", ".join(selectors.presence_reasons_offered(presence).values_list("label", flat=True)) or "none"
        message = f"No such reason for {Presence(presence).label.lower()}. Choose one of: {offered}."
        raise InvalidInput(message, fields={"reason": [message]})
    return reason


def agent_seen(*, agent_id: int, at: datetime) -> None:
    """Note that the agent used the portal at `at` (rebalancing sets idle agents offline).
    A plain UPDATE without a lock: the latest request wins, and nothing else depends on it.
    Written as SQL: every agent's pages and API calls make it once a minute, and the ORM's
    compiling of it cost more than twice the statement's own CPU."""
    with connection.cursor() as cursor:
        cursor.execute(_AGENT_SEEN, [at, agent_id])


_AGENT_SEEN = (f'UPDATE "{AgentProfile._meta.db_table}" '
               f'SET "{AgentProfile._meta.get_field("last_seen_at").column}" = %s '
               f'WHERE "{AgentProfile._meta.pk.column}" = %s')


def agent_configuration_record(*, agent_id: int, actor: Actor, before: dict) -> None:
    """An admin changed an agent's team, capacity or skills (Django admin saves the form):
    note what changed, from `before` (selectors.agent_configuration, read before the save)
    to what the agent has now, in the change log."""
    agent = AgentProfile.objects.select_related("user").get(pk=agent_id)
    change_record(actor=actor, action="agent.configured", subject=agent, before=before,
                  after=selectors.agent_configuration(agent_id))
