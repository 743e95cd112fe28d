"""Writes to items' SLA clocks. The lifecycle services and the moves call these inside
their own transaction, with the item row already locked (lock order: agents, items, then
clocks — allocation/lock_objects.py), so a pause ends in the transaction that moves the
item: nothing is left for later to add up.

Starting a clock copies the policy (and the source's external deadline, if any) onto it;
pausing and resuming keep the working time an item spends pended off its target (when the
policy says so) and move its due time; a retarget swaps the target and keeps the elapsed
and paused working time; stopping freezes the clock when the item closes. After each
change the item's due at and start by are the governing deadline's
(allocation/sla/clock.py), and the next alert is scheduled on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from allocation.models import SlaAlert, SlaClock, WorkItem
from allocation.services.rows import ITEM_CLOCK
from allocation.sla import clock as clock_math
from allocation.sla.policies import ClockPolicy, PolicyBook
from allocation.sla.working_time import WorkingCalendar, working_between


def schedule_next(clock: SlaClock, item: WorkItem, calendar: WorkingCalendar | None, *, after: int | None = None,
              alerted: Iterable[int] = ()) -> None:
    """Set the next threshold to alert on, the first one above `after` and not alerted yet,
    and when the governing deadline crosses it (none once stopped, nor while the policy's
    clock is paused and governs)."""
    skipped = set(alerted)
    upcoming = [t for t in clock.thresholds if (after is None or t > after) and t not in skipped]
    clock.next_threshold = upcoming[0] if upcoming else None
    clock.next_alert_at = None
    if upcoming and clock.stopped_at is None:
        clock.next_alert_at = clock_math.threshold_time(clock=clock, item=item, calendar=calendar, percent=upcoming[0])


@dataclass(frozen=True)
class NewClock:
    item: WorkItem
    policy: ClockPolicy  # the policy its deadlines came from
    external_deadline: datetime | None = None


def clocks_start(*, clocks: Iterable[NewClock], book: PolicyBook) -> None:
    """Start the clocks of newly taken-in items."""
    rows = []
    for new in clocks:
        policy = new.policy
        clock = SlaClock(
            item=new.item, calendar_id=policy.calendar_id, target=policy.target, thresholds=list(policy.thresholds),
            pause_when_pended=policy.pause_when_pended, external_deadline=new.external_deadline,
            policy_id=policy.policy_id,
        )
        schedule_next(clock, new.item, book.calendar(policy.calendar_id))
        rows.append(clock)
    SlaClock.objects.bulk_create(rows)


def _clock(item: WorkItem) -> SlaClock | None:
    """The item's clock, locked — and kept on the item, as select_related would, so the
    answer rendered from the item (its external deadline) does not read it again."""
    clock = SlaClock.objects.select_for_update().filter(item=item).first()
    ITEM_CLOCK.set_cached_value(item, clock)
    return clock


def _move_deadlines(item: WorkItem, clock: SlaClock, calendar: WorkingCalendar | None) -> clock_math.Deadlines:
    """Set the item's due at and start by to the governing deadline's."""
    deadlines = clock_math.clock_deadlines(clock=clock, item=item, calendar=calendar,
                                          handle_time=item.queue.standard_handle_time)
    item.due_at, item.start_by = deadlines.due_at, deadlines.start_by
    return deadlines


def clock_pause(*, item: WorkItem, at: datetime) -> bool:
    """The item was pended: its clock stops if the policy says pended time does not count.
    Then an external deadline, which keeps running, governs (the item's due at becomes it;
    the caller saves the item); returns whether the deadlines moved."""
    clock = _clock(item)
    if clock is None or not clock.pause_when_pended:
        return False
    book = PolicyBook()  # calendars are read only if needed
    if clock.paused_since is not None:
        return False
    clock.paused_since = at
    moved = False
    if clock.external_deadline is None:
        clock.next_alert_at = None  # a paused policy clock crosses nothing
    else:
        calendar = book.calendar(clock.calendar_id)
        due_before = item.due_at
        moved = _move_deadlines(item, clock, calendar).due_at != due_before
        if clock.next_threshold is not None:
            clock.next_alert_at = clock_math.threshold_time(clock=clock, item=item, calendar=calendar,
                                                           percent=clock.next_threshold)
    clock.save(update_fields=["paused_since", "next_alert_at"])
    return moved


def clock_resume(*, item: WorkItem, at: datetime, book: PolicyBook | None = None) -> bool:
    """The item left pended at `at`: add the pause's working time, move due at and start by
    later by it (the caller saves the item), and schedule the next alert. Returns whether
    the deadlines moved."""
    clock = _clock(item)
    if clock is None or clock.paused_since is None:
        return False
    calendar = (book or PolicyBook()).calendar(clock.calendar_id)
    clock.paused_working += working_between(calendar, clock.paused_since, at)
    clock.paused_since = None
    _move_deadlines(item, clock, calendar)
    schedule_next(clock, item, calendar, after=_last_alerted(item))
    clock.save(update_fields=["paused_working", "paused_since", "next_threshold", "next_alert_at"])
    return True


def clock_stop(*, item: WorkItem, at: datetime) -> None:
    """The item closed: the clock stops (and a pause ends) at `at`."""
    clock = _clock(item)
    if clock is None:
        return
    if clock.paused_since is not None:
        clock.paused_working += working_between(PolicyBook().calendar(clock.calendar_id), clock.paused_since, at)
        clock.paused_since = None
    clock.stopped_at, clock.next_alert_at = at, None
    clock.save(update_fields=["paused_working", "paused_since", "stopped_at", "next_alert_at"])


def clock_retarget(*, item: WorkItem, policy: ClockPolicy, at: datetime) -> str | None:
    """Put the item's clock on a new policy (its priority changed), keeping the working time
    already elapsed and paused; due at and start by follow (the caller saves the item).
    For an item with an external deadline, returns which deadline governs now."""
    clock = _clock(item)
    book = PolicyBook()
    if clock is None:
        clocks_start(clocks=[NewClock(item=item, policy=policy)], book=book)
        clock = _clock(item)
    calendar = book.calendar(policy.calendar_id)
    # The paused working time carries over as it is, also when the new policy counts on
    # another calendar (rare: a priority with a calendar of its own).
    clock.calendar_id, clock.target = policy.calendar_id, policy.target
    clock.thresholds, clock.pause_when_pended = list(policy.thresholds), policy.pause_when_pended
    clock.policy_id = policy.policy_id
    governing = _move_deadlines(item, clock, calendar).governed_by
    alerted = SlaAlert.objects.filter(item=item).values_list("threshold", flat=True)
    schedule_next(clock, item, calendar, alerted=alerted)
    clock.save()
    return governing if clock.external_deadline is not None else None


def _last_alerted(item: WorkItem) -> int | None:
    return SlaAlert.objects.filter(item=item).order_by("-threshold").values_list("threshold", flat=True).first()
