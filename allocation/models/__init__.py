"""Work allocation domain: skills, teams, queues, agents, work items and their events, and
the SLA engine's calendars, policies, clocks and alerts.

Rules about *changing* these rows live in `allocation.services`; these modules hold the
shape of the data and the invariants the database itself enforces.
"""

from allocation.models.items import (
    ACTIVE_STATUSES,
    CLOSED_STATUSES,
    HELD_STATUSES,
    OPEN_STATUSES,
    CoolOff,
    CoolOffKind,
    EventKind,
    ItemStatus,
    Priority,
    WorkItem,
    WorkItemEvent,
    customer_key,
)
from allocation.models.organisation import (
    CODE_VALIDATOR,
    PROFICIENCY_VALIDATORS,
    AgentProfile,
    AgentSkill,
    AllocationMode,
    Presence,
    PresenceChange,
    Queue,
    QueueSkill,
    Skill,
    SourceBinding,
    Team,
    actor_label,
)
from allocation.models.sla import (
    BREACH,
    DEFAULT_WARNING_THRESHOLDS,
    BusinessCalendar,
    Holiday,
    SlaAlert,
    SlaClock,
    SlaPolicy,
    Weekday,
    WorkingWindow,
)

__all__ = [
    "ACTIVE_STATUSES",
    "BREACH",
    "CLOSED_STATUSES",
    "CODE_VALIDATOR",
    "DEFAULT_WARNING_THRESHOLDS",
    "HELD_STATUSES",
    "OPEN_STATUSES",
    "PROFICIENCY_VALIDATORS",
    "AgentProfile",
    "AgentSkill",
    "AllocationMode",
    "BusinessCalendar",
    "CoolOff",
    "CoolOffKind",
    "EventKind",
    "Holiday",
    "ItemStatus",
    "Presence",
    "PresenceChange",
    "Priority",
    "Queue",
    "QueueSkill",
    "Skill",
    "SlaAlert",
    "SlaClock",
    "SlaPolicy",
    "SourceBinding",
    "Team",
    "Weekday",
    "WorkItem",
    "WorkItemEvent",
    "WorkingWindow",
    "actor_label",
    "customer_key",
]
