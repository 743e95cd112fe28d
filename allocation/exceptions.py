"""Errors raised by allocation services. Each says in plain words what was refused."""

from core.exceptions import DomainError, InvalidInput, NotFound, PermissionDenied


class ItemNotFound(NotFound):
    code = "item_not_found"


class IllegalTransition(DomainError):
    """The item is not in a state that allows the action (often: someone else changed it)."""

    code = "illegal_transition"


class NotItemHolder(PermissionDenied):
    code = "not_item_holder"


class NotAnAgent(PermissionDenied):
    code = "not_an_agent"


class AgentNotAvailable(DomainError):
    code = "agent_not_available"


class AgentAtCapacity(DomainError):
    code = "agent_at_capacity"


class AgentNotEligible(DomainError):
    code = "agent_not_eligible"


class IntakeRejected(InvalidInput):
    code = "intake_rejected"


__all__ = [
    "AgentAtCapacity",
    "AgentNotAvailable",
    "AgentNotEligible",
    "IllegalTransition",
    "IntakeRejected",
    "ItemNotFound",
    "NotAnAgent",
    "NotItemHolder",
]
