"""The SLA seam: how an item's deadlines follow from its queue, priority and receipt.

For now a plain around-the-clock target per queue. The SLA engine (business calendars,
policies per priority, pauses) replaces the body of `item_deadlines` and nothing else:
intake, transfer and allocation only ever ask this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from allocation.models import Queue


@dataclass(frozen=True)
class Deadlines:
    due_at: datetime
    start_by: datetime


def item_deadlines(*, queue: Queue, priority: int, received_at: datetime) -> Deadlines:
    due_at = received_at + queue.sla_target
    return start_by_for(queue=queue, due_at=due_at)


def start_by_for(*, queue: Queue, due_at: datetime) -> Deadlines:
    """Start by = due at − standard handle time: when work must begin to finish in time."""
    return Deadlines(due_at=due_at, start_by=due_at - queue.standard_handle_time)


class SlaState:
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    BREACHED = "breached"


def sla_state(*, start_by: datetime, due_at: datetime, now: datetime) -> str:
    """Where an open item stands against its deadline: at risk once work should have
    started (less than the standard handle time is left), breached once due."""
    if now >= due_at:
        return SlaState.BREACHED
    if now >= start_by:
        return SlaState.AT_RISK
    return SlaState.ON_TRACK
