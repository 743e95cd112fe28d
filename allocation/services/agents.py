"""Agent state changes."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from allocation.actors import Actor, actor_fields
from allocation.exceptions import NotAnAgent
from allocation.lock_objects import agents_lock
from allocation.models import AgentProfile, Presence, PresenceChange
from wfo.exceptions import InvalidInput


@transaction.atomic
def agent_set_presence(*, agent_id: int, presence: str, actor: Actor) -> AgentProfile:
    """Set an agent's presence; the history row feeds availability reports. Setting the
    presence it already has changes nothing (safe to repeat)."""
    if presence not in Presence.values:
        raise InvalidInput(
            f"Unknown presence {presence!r}.",
            fields={"presence": [f"Choose one of: {', '.join(Presence.values)}."]},
        )
    profile = agents_lock([agent_id]).first()
    if profile is None:
        raise NotAnAgent("This user has no agent profile.")
    if profile.presence == presence:
        return profile
    now = timezone.now()
    profile.presence = presence
    profile.presence_since = now
    profile.save(update_fields=["presence", "presence_since"])
    PresenceChange.objects.create(agent=profile, presence=presence, at=now, **actor_fields(actor))
    return profile


def agent_seen(*, agent_id: int, at: datetime) -> None:
    """Note that the agent used the portal at `at` (rebalancing sets idle agents offline).
    A plain UPDATE without a lock: the latest request wins, and nothing else depends on it."""
    AgentProfile.objects.filter(pk=agent_id).update(last_seen_at=at)
