"""An item's SLA clock, as arithmetic: when it is due, when it crosses each threshold, and
what it reads at a moment (for the inbox, the item page and the API).

The clock runs from receipt in working time on its calendar. Time spent pended does not
count when the policy says so: `paused_working` is the working time of pauses that
ended, `paused_since` an open pause. Due at = received at + target + paused working time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from allocation.models import SlaClock, WorkItem
from allocation.sla.policies import ClockPolicy
from allocation.sla.working_time import WorkingCalendar, add_working, is_working, working_between


class SlaState:
    ON_TRACK = "on_track"
    WARNING = "warning"
    BREACHED = "breached"
    PAUSED = "paused"
    MET = "met"
    MISSED = "missed"

    LABELS = {
        ON_TRACK: "On track", WARNING: "Warning", BREACHED: "Breached", PAUSED: "Paused",
        MET: "Met", MISSED: "Missed",
    }


@dataclass(frozen=True)
class Deadlines:
    due_at: datetime
    start_by: datetime


def start_by_for(*, due_at: datetime, handle_time: timedelta) -> datetime:
    """When work must begin to finish in time: due at − the queue's standard handle time."""
    return due_at - handle_time


def threshold_at(
    *, target: timedelta, calendar: WorkingCalendar | None, received_at: datetime, paused_working: timedelta,
    percent: int,
) -> datetime:
    """When the clock reaches `percent` of its target."""
    return add_working(calendar, received_at, target * percent / 100 + paused_working)


def deadlines(
    *, policy: ClockPolicy, calendar: WorkingCalendar | None, received_at: datetime, handle_time: timedelta,
    paused_working: timedelta = timedelta(0),
) -> Deadlines:
    due_at = threshold_at(
        target=policy.target, calendar=calendar, received_at=received_at, paused_working=paused_working, percent=100
    )
    return Deadlines(due_at=due_at, start_by=start_by_for(due_at=due_at, handle_time=handle_time))


def settled_pause(clock: SlaClock, calendar: WorkingCalendar | None) -> timedelta:
    """Paused working time including a pause that ended (resumed_at) but is not yet added up."""
    if clock.paused_since is not None and clock.resumed_at is not None:
        return clock.paused_working + working_between(calendar, clock.paused_since, clock.resumed_at)
    return clock.paused_working


@dataclass(frozen=True)
class ClockReading:
    state: str
    due_at: datetime
    target: timedelta
    elapsed: timedelta  # working time used
    remaining: timedelta  # working time left; negative once overdue
    percent_used: int
    ticking: bool  # whether the clock runs at this moment (working time, not paused, not stopped)
    ticking_until: datetime | None  # when it stops running by itself (the window's close); None: never
    warn_at: datetime | None  # when the first warning threshold is crossed
    calendar: WorkingCalendar | None

    @property
    def label(self) -> str:
        return SlaState.LABELS[self.state]


def clock_reading(*, item: WorkItem, clock: SlaClock, calendar: WorkingCalendar | None, now: datetime) -> ClockReading:
    paused_working = settled_pause(clock, calendar)
    open_pause = clock.paused_since is not None and clock.resumed_at is None
    end = clock.stopped_at or (clock.paused_since if open_pause else now)
    elapsed = max(working_between(calendar, item.received_at, end) - paused_working, timedelta(0))
    remaining = clock.target - elapsed
    percent = int(elapsed / clock.target * 100)
    warnings = [t for t in clock.thresholds if t < 100]
    warn_at = None
    if warnings:
        warn_at = threshold_at(
            target=clock.target, calendar=calendar, received_at=item.received_at, paused_working=paused_working,
            percent=warnings[0],
        )
    if clock.stopped_at is not None:
        state = SlaState.MET if clock.stopped_at <= item.due_at else SlaState.MISSED
    elif open_pause:
        state = SlaState.PAUSED
    elif now >= item.due_at:
        state = SlaState.BREACHED
    elif warn_at is not None and now >= warn_at:
        state = SlaState.WARNING
    else:
        state = SlaState.ON_TRACK
    ticking = clock.stopped_at is None and not open_pause and is_working(calendar, now)
    ticking_until = None
    if ticking and calendar is not None:
        ticking_until = next(close for open_, close in calendar.intervals(now) if close >= now)
    return ClockReading(
        state=state, due_at=item.due_at, target=clock.target, elapsed=elapsed, remaining=remaining,
        percent_used=percent, ticking=ticking, ticking_until=ticking_until, warn_at=warn_at, calendar=calendar,
    )
