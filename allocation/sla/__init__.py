"""The SLA engine (DESIGN.md, "SLA semantics"): how an item's deadlines follow from its
queue's policy, its priority and its receipt, in working time on a business calendar.

- working_time.py   the calendar arithmetic (pure: windows, holidays, DST)
- policies.py       which policy an item runs on, and the calendars, loaded once per call
- clock.py          an item's clock: due at, threshold times, readings for pages

Intake, transfer, retarget and the alert scan only ever ask these modules; writes to the
clock rows are services (allocation/services/sla_clock.py, sla_alerts.py).
"""

from allocation.sla.clock import (
    EXTERNAL_DEADLINE,
    POLICY,
    ClockReading,
    SlaState,
    clock_reading,
    deadlines,
    start_by_for,
)
from allocation.sla.policies import ClockPolicy, PolicyBook

__all__ = [
    "EXTERNAL_DEADLINE", "POLICY", "ClockPolicy", "ClockReading", "PolicyBook", "SlaState", "clock_reading",
    "deadlines", "start_by_for",
]
