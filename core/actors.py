"""Who acts: a user (agent, supervisor, integration) or a named system job."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from django.contrib.auth.models import AbstractBaseUser


@dataclass(frozen=True)
class SystemActor:
    """A periodic job or internal process acting without a user, e.g. "rebalancer"."""

    name: str


Actor: TypeAlias = AbstractBaseUser | SystemActor


def actor_fields(actor: Actor) -> dict:
    """The columns that record `actor` (an item's events, the change log)."""
    if isinstance(actor, SystemActor):
        return {"actor": None, "system_actor": actor.name}
    return {"actor": actor, "system_actor": ""}
