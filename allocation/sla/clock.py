"""An item's SLA clock, as arithmetic: when it is due, when it crosses each threshold, and
what it reads at a moment (for the inbox, the item page and the API).

The policy's clock runs from receipt in working time on its calendar. Time spent pended
does not count when the policy says so: `paused_working` is the working time of pauses
that ended, `paused_since` an open pause. The policy's due at = received at + target +
paused working time.

A source may also send an external deadline (a card network's respond-by date): an
absolute instant that neither pauses nor calendars move. The earlier of the two governs —
the item's due at, start by, thresholds, alerts and attainment all follow it — and while
the policy's clock is paused (its due at keeps moving later) the external deadline, which
keeps running, governs. On the external deadline the thresholds are shares of the plain
time from receipt to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from allocation.models import ItemStatus, SlaClock, WorkItem
from allocation.sla.policies import ClockPolicy
from allocation.sla.working_time import WorkingCalendar, add_working, is_working, working_between


class SlaState:
    ON_TRACK = "on_track"
    WARNING = "warning"
    BREACHED = "breached"
    PAUSED = "paused"
    MET = "met"
    MISSED = "missed"
    CANCELLED = "cancelled"  # closed without an SLA outcome

    LABELS = {
        ON_TRACK: "On track", WARNING: "Warning", BREACHED: "Breached", PAUSED: "Paused",
        MET: "Met", MISSED: "Missed", CANCELLED: "No SLA outcome (cancelled)",
    }


def _stopped_state(item: WorkItem, clock: SlaClock, due_at: datetime) -> str:
    """A closed item's outcome: met iff completed by its due at; a cancelled one has none."""
    if item.status == ItemStatus.CANCELLED:
        return SlaState.CANCELLED
    return SlaState.MET if clock.stopped_at <= due_at else SlaState.MISSED


# Which deadline governs an item's clock.
POLICY = "policy"
EXTERNAL_DEADLINE = "external_deadline"
GOVERNING_LABELS = {POLICY: "the SLA policy", EXTERNAL_DEADLINE: "the source's deadline"}


@dataclass(frozen=True)
class Deadlines:
    due_at: datetime
    start_by: datetime
    governed_by: str = POLICY


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
    paused_working: timedelta = timedelta(0), external_deadline: datetime | None = None,
) -> Deadlines:
    """A new item's deadlines (or a past one's, for the demo history)."""
    policy_due = threshold_at(
        target=policy.target, calendar=calendar, received_at=received_at, paused_working=paused_working, percent=100
    )
    return _governing(policy_due=policy_due, external_deadline=external_deadline, paused=False,
                      handle_time=handle_time)


def _governing(*, policy_due: datetime, external_deadline: datetime | None, paused: bool,
               handle_time: timedelta) -> Deadlines:
    if external_deadline is not None and (paused or external_deadline < policy_due):
        due_at, governed_by = external_deadline, EXTERNAL_DEADLINE
    else:
        due_at, governed_by = policy_due, POLICY
    return Deadlines(due_at=due_at, start_by=start_by_for(due_at=due_at, handle_time=handle_time),
                     governed_by=governed_by)


def _paused(clock: SlaClock) -> bool:
    return clock.paused_since is not None


def policy_due_at(*, clock: SlaClock, item: WorkItem, calendar: WorkingCalendar | None) -> datetime:
    """The policy's due at: receipt + target + the working time paused so far."""
    return threshold_at(target=clock.target, calendar=calendar, received_at=item.received_at,
                        paused_working=clock.paused_working, percent=100)


def clock_deadlines(
    *, clock: SlaClock, item: WorkItem, calendar: WorkingCalendar | None, handle_time: timedelta
) -> Deadlines:
    """The item's deadlines as its clock stands: the governing one's due at, and start by."""
    return _governing(policy_due=policy_due_at(clock=clock, item=item, calendar=calendar),
                      external_deadline=clock.external_deadline, paused=_paused(clock), handle_time=handle_time)


def governed_by(*, clock: SlaClock, item: WorkItem, calendar: WorkingCalendar | None) -> str:
    if clock.external_deadline is None:
        return POLICY  # the common case costs no arithmetic
    return clock_deadlines(clock=clock, item=item, calendar=calendar, handle_time=timedelta(0)).governed_by


def threshold_time(
    *, clock: SlaClock, item: WorkItem, calendar: WorkingCalendar | None, percent: int
) -> datetime | None:
    """When the governing deadline reaches `percent`: on the external deadline, that share of
    the plain time from receipt to it; on the policy, that share of the target in working
    time — never while the policy's clock is paused."""
    if governed_by(clock=clock, item=item, calendar=calendar) == EXTERNAL_DEADLINE:
        return item.received_at + (clock.external_deadline - item.received_at) * percent / 100
    if _paused(clock):
        return None
    return threshold_at(target=clock.target, calendar=calendar, received_at=item.received_at,
                        paused_working=clock.paused_working, percent=percent)


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
    calendar: WorkingCalendar | None  # what it counts in; None: around the clock
    governed_by: str = POLICY  # POLICY or EXTERNAL_DEADLINE
    policy_due_at: datetime | None = None
    external_deadline: datetime | None = None
    policy_paused: bool = False  # the policy's clock is paused (pended), whichever governs

    @property
    def label(self) -> str:
        return SlaState.LABELS[self.state]

    @property
    def governed_by_label(self) -> str:
        return GOVERNING_LABELS[self.governed_by]


def clock_reading(*, item: WorkItem, clock: SlaClock, calendar: WorkingCalendar | None, now: datetime) -> ClockReading:
    paused_working = clock.paused_working
    open_pause = _paused(clock)
    if clock.external_deadline is not None:
        policy_due = policy_due_at(clock=clock, item=item, calendar=calendar)
        governing = _governing(policy_due=policy_due, external_deadline=clock.external_deadline, paused=open_pause,
                               handle_time=timedelta(0))
        if governing.governed_by == EXTERNAL_DEADLINE:
            return _external_reading(item=item, clock=clock, policy_due=policy_due, paused=open_pause, now=now)
    else:
        policy_due = item.due_at  # no external deadline: the item's due at is the policy's
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
        state = _stopped_state(item, clock, item.due_at)
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
        policy_due_at=policy_due, external_deadline=clock.external_deadline, policy_paused=open_pause,
    )


def _external_reading(*, item: WorkItem, clock: SlaClock, policy_due: datetime, paused: bool,
                      now: datetime) -> ClockReading:
    """The clock of an item its external deadline governs: plain time from receipt to the
    deadline, running whatever the calendar, pended or not."""
    deadline = clock.external_deadline
    target = deadline - item.received_at
    elapsed = max((clock.stopped_at or now) - item.received_at, timedelta(0))
    warnings = [t for t in clock.thresholds if t < 100]
    warn_at = item.received_at + target * warnings[0] / 100 if warnings else None
    if clock.stopped_at is not None:
        state = _stopped_state(item, clock, deadline)
    elif now >= deadline:
        state = SlaState.BREACHED
    elif warn_at is not None and now >= warn_at:
        state = SlaState.WARNING
    else:
        state = SlaState.ON_TRACK
    return ClockReading(
        state=state, due_at=deadline, target=target, elapsed=elapsed, remaining=target - elapsed,
        percent_used=int(elapsed / target * 100), ticking=clock.stopped_at is None, ticking_until=None,
        warn_at=warn_at, calendar=None, governed_by=EXTERNAL_DEADLINE, policy_due_at=policy_due,
        external_deadline=deadline, policy_paused=paused,
    )
