"""Every write of the allocation domain. Views, the API, admin actions and Celery tasks
call these functions; nothing else changes an item's status or assignee."""

from allocation.services.agents import agent_configuration_record, agent_set_presence, agent_set_presence_by_supervisor
from allocation.services.intake import IntakeResult, ItemDraft, batch_size_check, item_intake, items_intake
from allocation.services.lifecycle import (
    item_cancel,
    item_change_priority,
    item_complete,
    item_pend,
    item_reject,
    item_release,
    item_resume,
    item_start,
    item_transfer,
)
from allocation.services.next_work import agent_next_work_refusal, item_get_next, next_work_refusal

__all__ = [
    "IntakeResult",
    "ItemDraft",
    "agent_configuration_record",
    "agent_next_work_refusal",
    "agent_set_presence",
    "agent_set_presence_by_supervisor",
    "batch_size_check",
    "item_cancel",
    "item_change_priority",
    "item_complete",
    "item_get_next",
    "item_intake",
    "item_pend",
    "item_reject",
    "item_release",
    "item_resume",
    "item_start",
    "item_transfer",
    "items_intake",
    "next_work_refusal",
]
